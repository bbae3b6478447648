document.getElementById('app').textContent = 'Aegis';
