// Safe rendering of ATT&CK description markdown: builds DOM nodes only (no innerHTML).
// Supports: paragraphs (blank lines), [text](http(s)://url) links, (Citation: X) markers,
// literal <code>…</code> spans as <code>, and **bold**. Everything else is plain text.
import { h } from './dom.js';

const TOKEN = /\[([^\]]+)\]\(([^)\s]+)\)|\(Citation: ([^)]+)\)|<code>([\s\S]*?)<\/code>|\*\*([^*]+)\*\*/g;

function safeUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch { return null; }
}

function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) {
      const href = safeUrl(m[2]);
      out.push(href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank' }, m[1]) : m[0]);
    } else if (m[3] !== undefined) {
      out.push(h('span', { class: 'citation' }, `(Citation: ${m[3]})`));
    } else if (m[4] !== undefined) {
      out.push(h('code', null, m[4]));
    } else {
      out.push(h('strong', null, m[5]));
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function renderMarkdown(src) {
  const frag = document.createDocumentFragment();
  const paras = String(src || '').split(/\n\s*\n/);
  for (const p of paras) {
    const t = p.trim();
    if (!t) continue;
    const lines = t.split('\n');
    if (lines.every((l) => /^\s*[*-]\s+/.test(l))) {
      frag.append(h('ul', null, lines.map((l) => h('li', null, inline(l.replace(/^\s*[*-]\s+/, ''))))));
    } else {
      frag.append(h('p', null, inline(t)));
    }
  }
  return frag;
}
