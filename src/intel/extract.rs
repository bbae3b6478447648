//! ATT&CK technique ids in free text: `T1234` and `T1234.001`, on word boundaries. `T12345`,
//! `AT1234`, `T1234.1` and `t1234` are not ids.

/// The distinct ids in `text`, in order of first appearance.
pub fn technique_ids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let digits_at = |start: usize, count: usize| {
        bytes.len() >= start + count && bytes[start..start + count].iter().all(u8::is_ascii_digit)
    };
    let mut found: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_word(bytes[i - 1]);
        if bytes[i] != b'T' || !starts_word || !digits_at(i + 1, 4) {
            i += 1;
            continue;
        }
        let mut end = i + 5;
        if bytes.get(end).is_some_and(|b| is_word(*b)) {
            i = end;
            continue;
        }
        if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
            // A sub-technique needs exactly three digits; `T1234.1` or `T1234.0001` is no id at all.
            if digits_at(end + 1, 3) && !bytes.get(end + 4).is_some_and(|b| is_word(*b)) {
                end += 4;
            } else {
                i = end + 1;
                continue;
            }
        }
        let id = &text[i..end];
        if !found.iter().any(|known| known == id) {
            found.push(id.to_owned());
        }
        i = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_on_word_boundaries() {
        let table: [(&str, &[&str]); 16] = [
            ("Actors used T1059.001 and T1566.001.", &["T1059.001", "T1566.001"]),
            ("T1059", &["T1059"]),
            ("(T1003)", &["T1003"]),
            ("see T1059. Then", &["T1059"]),
            ("T1059,T1027;T1105", &["T1059", "T1027", "T1105"]),
            ("<td>T1566</td>", &["T1566"]),
            ("T12345", &[]),
            ("AT1234", &[]),
            ("T1234.1", &[]),
            ("T1234.12 and T1234.0001", &[]),
            ("t1059", &[]),
            ("T1059a", &[]),
            ("_T1059", &[]),
            ("T1059.001x", &[]),
            ("T1059 T1059 T1059.001", &["T1059", "T1059.001"]),
            ("Ünïcödé T1071.001 — T1071", &["T1071.001", "T1071"]),
        ];
        for (text, expected) in table {
            assert_eq!(technique_ids(text), expected, "{text}");
        }
    }
}
