// The course site's theme: renders the pages Jupyter Book (MyST) has built into static HTML.
//
// MyST runs this as the template's `render` command with CONTENT_CDN (its content server: the
// site's config.json, each page's AST as content/SLUG.json, and the images and downloads) and
// BUILD_DIRECTORY (where the HTML goes). It needs nothing but Node.js 18 or newer: no packages,
// no downloads, so the site builds offline. Notebook cells show their stored outputs; math is
// MyST's own KaTeX rendering, shown through its MathML part.
import fs from "node:fs";
import path from "node:path";

const cdn = process.env.CONTENT_CDN;
const out = process.env.BUILD_DIRECTORY;
const base = (process.env.BASE_URL || "").replace(/\/$/, "");
const themeDir = path.dirname(new URL(import.meta.url).pathname);

async function get(url, binary = false) {
  const resp = await fetch(cdn + url);
  if (!resp.ok) throw new Error(`${url}: ${resp.status}`);
  return binary ? Buffer.from(await resp.arrayBuffer()) : resp.text();
}

const esc = (s) => String(s ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const ansi = (s) => String(s ?? "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
const text = (v) => (Array.isArray(v) ? v.join("") : String(v ?? ""));

const assets = new Set(); // site-absolute paths of images and downloads to copy from the CDN

// MyST may already have put BASE_URL in front of a site-absolute URL; take it off, put it back once
const unbase = (url) => (base && (url === base || url.startsWith(base + "/")) ? url.slice(base.length) || "/" : url);

function href(url) {
  if (!url) return "";
  url = unbase(url);
  if (/^[a-z]+:/i.test(url) || url.startsWith("#")) return url;
  if (url.startsWith("/")) return base + url;
  return url;
}

function asset(url) {
  url = url && unbase(url);
  if (url && url.startsWith("/") && !url.startsWith("//")) assets.add(url.split("#")[0]);
  return href(url);
}

function pageUrl(slug, index) {
  return slug === index ? `${base}/` : `${base}/${slug}/`;
}

function output(o) {
  const d = o.jupyter_data || {};
  if (d.output_type === "stream") {
    return `<pre class="output${d.name === "stderr" ? " stderr" : ""}">${esc(ansi(text(d.text)))}</pre>`;
  }
  if (d.output_type === "error") {
    return `<pre class="output stderr">${esc(ansi((d.traceback || []).join("\n")))}</pre>`;
  }
  const data = d.data || {};
  for (const mime of ["image/svg+xml", "image/png", "image/jpeg", "image/gif"]) {
    if (data[mime]?.path) return `<img class="output" src="${esc(asset(data[mime].path))}" alt="">`;
  }
  if (data["text/html"]) return `<div class="output">${text(data["text/html"].content)}</div>`;
  if (data["text/markdown"]) return `<div class="output">${esc(text(data["text/markdown"].content))}</div>`;
  if (data["text/plain"]) return `<pre class="output">${esc(ansi(text(data["text/plain"].content)))}</pre>`;
  return "";
}

function render(node, ctx) {
  const kids = () => (node.children || []).map((c) => render(c, ctx)).join("");
  const id = node.html_id ? ` id="${esc(node.html_id)}"` : "";
  switch (node.type) {
    case "root": return kids();
    case "block": {
      if (node.kind === "notebook-code") return `<div class="cell"${id}>${kids()}</div>`;
      return `<section${id}>${kids()}</section>`;
    }
    case "heading": {
      if (node.depth === 1 && ctx.title && !ctx.seenTitle) { ctx.seenTitle = true; }
      const d = Math.min(6, node.depth + (ctx.shift || 0));
      return `<h${d}${id}>${kids()}${node.html_id ? ` <a class="anchor" href="#${esc(node.html_id)}">#</a>` : ""}</h${d}>`;
    }
    case "paragraph": return `<p>${kids()}</p>`;
    case "text": return esc(node.value);
    case "emphasis": return `<em>${kids()}</em>`;
    case "strong": return `<strong>${kids()}</strong>`;
    case "delete": return `<del>${kids()}</del>`;
    case "underline": return `<u>${kids()}</u>`;
    case "subscript": return `<sub>${kids()}</sub>`;
    case "superscript": return `<sup>${kids()}</sup>`;
    case "smallcaps": return `<span class="smallcaps">${kids()}</span>`;
    case "abbreviation": return `<abbr title="${esc(node.title)}">${kids()}</abbr>`;
    case "break": return "<br>";
    case "thematicBreak": return "<hr>";
    case "blockquote": return `<blockquote>${kids()}</blockquote>`;
    case "inlineCode": return `<code>${esc(node.value)}</code>`;
    case "code": {
      if (node.visibility === "remove") return "";
      const lang = node.lang ? ` class="language-${esc(node.lang)}"` : "";
      return `<pre class="${node.executable ? "input" : "code"}"><code${lang}>${esc(node.value)}</code></pre>`;
    }
    case "outputs": return node.visibility === "remove" ? "" : `<div class="outputs">${kids()}</div>`;
    case "output": return output(node);
    case "math": return node.html ? `<div class="math"${id}>${node.html}</div>` : `<pre class="math">${esc(node.value)}</pre>`;
    case "inlineMath": return node.html ? `<span class="math">${node.html}</span>` : `<code>${esc(node.value)}</code>`;
    case "link": {
      const url = node.static ? asset(node.url) : href(node.internal && node.url.startsWith("/") ? ctx.route(node.url) : node.url);
      const ext = /^https?:/.test(node.url) ? ' rel="noopener"' : "";
      return `<a href="${esc(url)}"${ext}>${kids()}</a>`;
    }
    case "crossReference": {
      const target = node.remote ? ctx.route(node.url || "") : `#${node.html_id || node.identifier}`;
      return `<a href="${esc(target)}">${kids() || esc(node.label)}</a>`;
    }
    case "image": {
      const w = node.width ? ` style="width:${esc(node.width)}"` : "";
      return `<img src="${esc(asset(node.url))}" alt="${esc(node.alt)}"${w}>`;
    }
    case "list": {
      const tag = node.ordered ? "ol" : "ul";
      const start = node.ordered && node.start && node.start !== 1 ? ` start="${node.start}"` : "";
      return `<${tag}${start}>${kids()}</${tag}>`;
    }
    case "listItem": return `<li>${kids()}</li>`;
    case "table": return `<div class="table"><table>${kids()}</table></div>`;
    case "tableRow": return `<tr>${kids()}</tr>`;
    case "tableCell": {
      const tag = node.header ? "th" : "td";
      const align = node.align ? ` style="text-align:${esc(node.align)}"` : "";
      return `<${tag}${align}>${kids()}</${tag}>`;
    }
    case "html": return node.value || "";
    case "admonition": return `<aside class="admonition ${esc(node.kind || "note")}">${kids()}</aside>`;
    case "admonitionTitle": return `<p class="admonition-title">${kids()}</p>`;
    case "container": return `<figure${id}>${kids()}</figure>`;
    case "caption": case "legend": return `<figcaption>${kids()}</figcaption>`;
    case "footnoteReference": return `<sup><a href="#fn-${esc(node.identifier)}">${esc(node.label || node.identifier)}</a></sup>`;
    case "footnoteDefinition": return `<div class="footnote" id="fn-${esc(node.identifier)}">${esc(node.label || node.identifier)}. ${kids()}</div>`;
    case "comment": case "mystComment": case "mystTarget": return "";
    case "definitionList": return `<dl>${kids()}</dl>`;
    case "definitionTerm": return `<dt>${kids()}</dt>`;
    case "definitionDescription": return `<dd>${kids()}</dd>`;
    case "div": return `<div${id}>${kids()}</div>`;
    case "span": return `<span${id}>${kids()}</span>`;
    default: return kids();
  }
}

function nav(pages, index, current, title) {
  const items = [`<li class="level-1"><a href="${pageUrl(index, index)}"${current === index ? ' class="current"' : ""}>${esc(title)}</a></li>`];
  for (const p of pages) {
    if (!p.slug) { items.push(`<li class="part level-${p.level}">${esc(p.title)}</li>`); continue; }
    const cur = p.slug === current ? ' class="current"' : "";
    items.push(`<li class="level-${p.level}"><a href="${pageUrl(p.slug, index)}"${cur}>${esc(p.title)}</a></li>`);
  }
  return `<nav class="toc"><ul>${items.join("")}</ul></nav>`;
}

function layout({ title, siteTitle, body, navHtml, prev, next, download, description }) {
  const pn = [prev ? `<a class="prev" href="${prev.url}">← ${esc(prev.title)}</a>` : "<span></span>",
              next ? `<a class="next" href="${next.url}">${esc(next.title)} →</a>` : "<span></span>"].join("");
  return `<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}${title === siteTitle ? "" : " · " + esc(siteTitle)}</title>
<meta name="description" content="${esc(description || siteTitle)}">
<link rel="stylesheet" href="${base}/style.css">
</head>
<body>
<header><a class="site" href="${base}/">${esc(siteTitle)}</a></header>
<div class="page">
${navHtml}
<main>
${download ? `<p class="download"><a href="${esc(download.url)}">Download this notebook (${esc(download.filename)})</a></p>` : ""}
${body}
<footer class="pager">${pn}</footer>
</main>
</div>
</body>
</html>
`;
}

function write(rel, content) {
  const file = path.join(out, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

const config = JSON.parse(await get("/config.json"));
const project = config.projects[0];
const index = project.index;
const siteTitle = project.title || "Course";
const pages = project.pages || [];
const slugs = [index, ...pages.filter((p) => p.slug).map((p) => p.slug)];
const titles = {};
for (const p of pages) if (p.slug) titles[p.slug] = p.title;
titles[index] = siteTitle;

// internal links arrive as /SLUG or /SLUG#id; pages live in SLUG/index.html
const route = (url) => {
  const [p, frag] = unbase(url).split("#");
  const slug = p.replace(/^\//, "").replace(/\.json$/, "");
  const target = slugs.includes(slug) ? pageUrl(slug, index) : base + p;
  return frag ? `${target}#${frag}` : target;
};

for (const [i, slug] of slugs.entries()) {
  const page = JSON.parse(await get(`/content/${slug}.json`));
  const fm = page.frontmatter || {};
  const title = fm.title || titles[slug] || slug;
  const ctx = { route, title };
  let body = render(page.mdast, ctx);
  if (!fm.content_includes_title) body = `<h1>${esc(title)}</h1>\n${body}`;
  const ipynb = (fm.exports || []).find((e) => e.format === "ipynb");
  const download = ipynb ? { url: asset(ipynb.url), filename: ipynb.filename } : null;
  const prev = i > 0 ? { url: pageUrl(slugs[i - 1], index), title: titles[slugs[i - 1]] } : null;
  const next = i + 1 < slugs.length ? { url: pageUrl(slugs[i + 1], index), title: titles[slugs[i + 1]] } : null;
  const html = layout({ title, siteTitle, body, navHtml: nav(pages, index, slug, siteTitle), prev, next, download,
                        description: fm.description });
  write(slug === index ? "index.html" : `${slug}/index.html`, html);
}

for (const url of assets) write(url.replace(/^\//, ""), await get(url, true));
fs.copyFileSync(path.join(themeDir, "style.css"), path.join(out, "style.css"));
write(".nojekyll", "");
console.log(`rendered ${slugs.length} pages and ${assets.size} files into ${out}`);
