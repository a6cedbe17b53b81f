"""Build ftlearn's documentation site, offline, with MkDocs (Material theme) and mkdocs-jupyter.

    .venv/bin/python docs/build.py            # the site in _docs/site/ (open _docs/site/index.html)
    .venv/bin/python docs/build.py --serve    # build, then serve it at http://127.0.0.1:8000/ (search works there)
    .venv/bin/python docs/build.py --out DIR  # pages' sources in DIR/src, the site in DIR/site (the tests do this)

The pages: README.md is the home page; every library notebook (nbs/*.ipynb) and every course lesson
(course/*.ipynb) is a page, rendered from its saved outputs (nothing is executed); course/README.md opens the
course; api/ is an API reference generated here from the exported code: for each name in a module's `__all__`
(and each public method of its classes, `@patch`ed ones too) the signature, the docstring, the parameters' comments
and the notebook prose just before the cell that defines it, in the spirit of nbdev's `show_doc`. API pages are
named as nbdev names them (`api/callback.budget.html#stepbudget`), so the links in `ftlearn/_modidx.py` resolve.

This script lays the sources out in SRC, mirroring the repository (so relative links between README, lessons and
notebooks keep working), then runs MkDocs with mkdocs.yml in strict mode (a broken link in a Markdown page fails
the build). Notebook copies differ from the originals only in what a reader of the site needs: nbdev's `#| hide`
cells and `#|` directive lines are left out, and a widget output keeps its saved PNG picture in place of the live
widget (whose JavaScript would come from a CDN).
"""
from __future__ import annotations
import argparse, ast, hashlib, importlib, inspect, json, logging, os, re, shutil, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json'
MATHJAX_CONFIG = 'TeX-AMS-MML_HTMLorMML-full,Safe,ftlearn'
# jupyter-server-mathjax ships MathJax 2 with the STIX-Web fonts only (as Jupyter uses it): say so, or MathJax asks for
# TeX's; and its blank fallback font must not be fetched from about:blank (Chromium logs that as an error)
MATHJAX_LOCAL = '''MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
  styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}}});
MathJax.Ajax.loadComplete("[MathJax]/config/ftlearn.js");
'''

# ---------------------------------------------------------------------------------------------------------------
# Laying out the sources

NB_LINK = re.compile(r'\]\(((?![a-z]+:)[^)\s]*?)\.ipynb(#[^)\s]*)?\)')

def _clean_notebook(src: Path, dst: Path):
    "Copy notebook `src` to `dst` as the site shows it (saved outputs untouched, nothing executed)."
    nb = json.loads(src.read_text(encoding='utf-8'))
    nb.get('metadata', {}).pop('widgets', None)
    cells = []
    for c in nb['cells']:
        lines = ''.join(c.get('source', '')).splitlines(keepends=True)
        if c['cell_type'] == 'code':
            directives = [l for l in lines if l.startswith('#|')]
            if any(re.match(r'#\|\s*(hide|default_exp)\b', l) for l in directives): continue
            lines = [l for l in lines if not l.startswith('#|')]
            for o in c.get('outputs', []):
                data = o.get('data', {})
                if WIDGET_VIEW in data: data.pop(WIDGET_VIEW)   # keeps the PNG (and text) the widget saved beside it
        elif c['cell_type'] == 'markdown':   # a link to another notebook goes to its page
            lines = [NB_LINK.sub(r'](\1.html\2)', l) for l in lines]
        c['source'] = ''.join(lines)
        cells.append(c)
    nb['cells'] = cells
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb), encoding='utf-8')

LINK = re.compile(r'\]\(([^)\s]+)\)')

def _linked_files(text: str, where: Path):
    "Repository files that Markdown `text`, read at folder `where`, links to by a relative path."
    for m in LINK.finditer(text):
        t = m.group(1).split('#')[0]
        if not t or re.match(r'^[a-z]+:', t) or t.startswith('/'): continue
        p = (where / t).resolve()
        if p.is_file() and ROOT in p.parents: yield p

def lay_out(src: Path):
    "Copy README, course and library notebooks into `src`, as the repository has them; return the nav's parts."
    if src.exists(): shutil.rmtree(src)
    src.mkdir(parents=True)
    mds = [ROOT / 'README.md', ROOT / 'course' / 'README.md']
    for f in mds: (src / f.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True); shutil.copy(f, src / f.relative_to(ROOT))
    lessons = sorted((ROOT / 'course').glob('*.ipynb'))
    nbs = sorted((ROOT / 'nbs').glob('*.ipynb'), key=lambda p: (p.stem != 'index', p.name))
    texts = [(f.read_text(encoding='utf-8'), f.parent) for f in mds]
    for nb in lessons + nbs:
        _clean_notebook(nb, src / nb.relative_to(ROOT))
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        texts += [(''.join(c['source']), nb.parent) for c in cells if c['cell_type'] == 'markdown']
    for text, where in texts:   # other repository files the pages link to (results, scripts) come along as they are
        for p in _linked_files(text, where):
            dst = src / p.relative_to(ROOT)
            if not dst.exists(): dst.parent.mkdir(parents=True, exist_ok=True); shutil.copy(p, dst)
    rel = lambda ps: [p.relative_to(ROOT).as_posix() for p in ps]
    return rel(lessons), rel(nbs)

# ---------------------------------------------------------------------------------------------------------------
# The API reference

def exported_modules():
    "`(dotted name, .py path, notebook path)` for each module nbdev exports (the ones a notebook writes)."
    res = []
    for py in sorted((ROOT / 'ftlearn').rglob('*.py')):
        head = py.read_text(encoding='utf-8')[:3000]
        m = re.search(r'# AUTOGENERATED! DO NOT EDIT! File to edit: (\S+\.ipynb)\.', head)
        if not m: continue
        mod = '.'.join(py.relative_to(ROOT).with_suffix('').parts)
        res.append((mod, py, (py.parent / m.group(1)).resolve()))
    return res

def page_name(mod: str) -> str: return mod.split('.', 1)[1]   # nbdev's: ftlearn.callback.budget -> callback.budget

def _definitions(py: Path):
    "Name (`f`, `Cls`, `Cls.meth`, patched methods too) -> `(cell id, line)` of the exported cell defining it."
    text = py.read_text(encoding='utf-8')
    marks = [(i + 1, m.group(1)) for i, l in enumerate(text.splitlines()) if (m := re.match(r'# %% \S+\.ipynb #(\w+)', l))]
    cell_at = lambda line: next((c for ln, c in reversed(marks) if ln < line), None)
    defs = {}
    for node in ast.parse(text).body:
        line = min([node.lineno] + [d.lineno for d in getattr(node, 'decorator_list', [])])
        where = (cell_at(line), line)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            decos = [ast.unparse(d) for d in node.decorator_list]
            args = getattr(node, 'args', None)
            if any(d.split('(')[0] in ('patch', 'patch_to') for d in decos) and args and args.args and args.args[0].annotation:
                defs[f'{ast.unparse(args.args[0].annotation)}.{node.name}'] = where
            else: defs[node.name] = where
            if isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)): defs[f'{node.name}.{sub.name}'] = (where[0], sub.lineno)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(t, ast.Name): defs[t.id] = where
    return defs

def _short(v) -> str:
    if inspect.isclass(v) or inspect.isroutine(v): return getattr(v, '__qualname__', getattr(v, '__name__', repr(v)))
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + '...'

def _signature(name: str, obj, method=False) -> str | None:
    "`name(params) -> ret` as nbdev shows it, with annotations as written (they are strings under `annotations`)."
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return None
    ps, out, kinds = list(sig.parameters.values()), [], inspect.Parameter
    if method and ps and ps[0].name in ('self', 'cls'): ps = ps[1:]
    ann = lambda a: a if isinstance(a, str) else inspect.formatannotation(a)
    for i, p in enumerate(ps):
        if p.kind == kinds.KEYWORD_ONLY and (i == 0 or ps[i - 1].kind not in (kinds.KEYWORD_ONLY, kinds.VAR_POSITIONAL)): out.append('*')
        s = {kinds.VAR_POSITIONAL: '*', kinds.VAR_KEYWORD: '**'}.get(p.kind, '') + p.name
        if p.annotation is not p.empty: s += ':' + ann(p.annotation)
        if p.default is not p.empty: s += '=' + _short(p.default)
        out.append(s)
        if p.kind == kinds.POSITIONAL_ONLY and (i + 1 == len(ps) or ps[i + 1].kind != kinds.POSITIONAL_ONLY): out.append('/')
    ret = '' if sig.return_annotation is sig.empty or inspect.isclass(obj) else ' -> ' + ann(sig.return_annotation)
    one = f"{name}({', '.join(out)}){ret}"
    return one if len(one) <= 100 else f"{name}(\n" + ''.join(f"    {s},\n" for s in out) + f"){ret}"

def _docments(obj):
    "Parameter table from nbdev's docments (comments beside the parameters), or '' when there are none."
    try:
        from fastcore.docments import docments
        d = docments(obj, full=True)
    except Exception: return ''
    rows = [(k, v) for k, v in d.items() if k not in ('self', 'return') and v.get('docment')]
    if not rows: return ''
    code = lambda s: str(s).replace('\n', ' ')   # a pipe inside a code span does not split a table cell
    cell = lambda s: code(s).replace('|', '\\|')
    lines = ['| | type | default | |', '|---|---|---|---|']
    for k, v in rows:
        a = v.get('anno'); dflt = v.get('default')
        a = '' if a is inspect.Parameter.empty or a is None else (a if isinstance(a, str) else inspect.formatannotation(a))
        dflt = '' if dflt is inspect.Parameter.empty else _short(dflt)
        lines.append(f"| `{k}` | {a and f'`{code(a)}`'} | {dflt and f'`{code(dflt)}`'} | {cell(v['docment'])} |")
    return '\n'.join(lines)

def _doc(obj) -> str:
    d = obj.__doc__ if (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj) or isinstance(obj, property)) else None
    return inspect.cleandoc(d) if isinstance(d, str) else ''

def _linker(index: dict):
    "A function linking `name` in backticks in Markdown to its API entry (as nbdev's doclinks do); code blocks are left alone."
    def link(md: str, here: str | None = None, prefix: str = '', dotted_only=False, scope=None) -> str:
        "`scope`: a module; a short name links only where that module knows it (not a parameter that shares a name)."
        def one(m):
            name = m.group(1).removesuffix('()')
            if name not in index or (dotted_only and not name.startswith('ftlearn.')): return m.group(0)
            if scope is not None and not name.startswith('ftlearn.') and not hasattr(scope, name.split('.')[0]): return m.group(0)
            page, anchor = index[name]
            target = ('' if page == here else f'{prefix}{page}.md') + (f'#{anchor}' if anchor else '')
            return f"[{m.group(0)}]({target})" if target else m.group(0)
        parts = re.split(r'(```.*?```)', md, flags=re.S)
        return ''.join(p if p.startswith('```') else re.sub(r'(?<![\[\w])`([A-Za-z_][\w.]*(?:\(\))?)`(?!\])', one, p) for p in parts)
    return link

def _relink(md: str, nb: Path) -> str:
    "Relative links in notebook prose, rewritten for a page in api/."
    def one(m):
        t = m.group(1)
        if t.startswith('#') or re.match(r'^[a-z]+:', t) or t.startswith('/'): return m.group(0)
        return f"](../{os.path.normpath((nb.parent.relative_to(ROOT) / t).as_posix())})"
    return LINK.sub(one, md)

def _prose(md: str) -> str:
    "Notebook prose inside an API page: its headings become bold lines, so that the page's headings are the names."
    return re.sub(r'^#{1,6}\s+(.*)$', r'**\1**', md, flags=re.M)

def write_api(out: Path):
    "api/<module>.md for each exported module, and api/index.md; returns the pages in order and the linker."
    os.environ.setdefault('FTLEARN_OFFLINE', '1'); os.environ.setdefault('MPLBACKEND', 'Agg')
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
    mods = exported_modules()
    info = []
    for mod, py, nb in mods:
        m = importlib.import_module(mod)
        public = [n for n in getattr(m, '__all__', [])]
        defs = _definitions(py)
        entries = []   # (qualified name, object, level)
        for n in public:
            obj = getattr(m, n)
            entries.append((n, obj, 2))
            if inspect.isclass(obj):
                for q in defs:
                    if q.startswith(n + '.') and q.count('.') == 1 and not q.split('.')[1].startswith('_'):
                        entries.append((q, inspect.getattr_static(obj, q.split('.')[1], None), 3))
        info.append((mod, py, nb, m, defs, entries))
    index = {}
    for mod, _, _, _, _, entries in info:
        for q, _, _ in entries:
            for key in {q, f'{mod}.{q}'}: index.setdefault(key, (page_name(mod), q.lower()))
    dup = {q for mod, *_, entries in info for q, _, _ in entries if index[q][0] != page_name(mod)}
    for q in dup: index.pop(q, None)   # a short name two modules define links nowhere; its dotted name still does
    for mod, *_ in info: index[mod] = (page_name(mod), None)
    link = _linker(index)
    out.mkdir(parents=True, exist_ok=True)
    pages, rows = [], []
    for mod, py, nb, m, defs, entries in info:
        page = page_name(mod)
        cl = json.loads(nb.read_text(encoding='utf-8'))['cells']
        cells = {c.get('id'): i for i, c in enumerate(cl)}   # cell id -> its place in the notebook
        order = lambda e: (cells.get(defs.get(e[0], (None, 0))[0], 1e9), defs.get(e[0], (None, 0))[1], e[2])
        entries = sorted(entries, key=order)
        summary = (_doc(m) or '').split('\n\n')[0].replace('\n', ' ')
        nb_rel = nb.relative_to(ROOT).as_posix()
        md = [f"# {mod}\n", link(summary, page, scope=m) + '\n',
              f"From the notebook [{nb_rel}](../{nb_rel}) (source and examples), exported to `{py.relative_to(ROOT).as_posix()}`.\n"]
        seen_cells = set()
        for q, obj, level in entries:
            cid = defs.get(q, (None, 0))[0]
            if cid in cells and cid not in seen_cells:
                seen_cells.add(cid)
                i, prose = cells[cid], []
                while i > 0 and cl[i - 1]['cell_type'] == 'markdown':   # the prose just before the defining cell
                    i -= 1; prose.insert(0, ''.join(cl[i]['source']))
                prose = [p for p in prose if not p.lstrip().startswith('# ')]   # the notebook's title is the page's
                if prose: md.append(link(_relink(_prose('\n\n'.join(prose)), nb), page, scope=m) + '\n')
            md.append(f"{'#' * level} {q} {{ #{q.lower()} }}\n")
            target = obj.fget if isinstance(obj, property) else obj
            if isinstance(obj, (staticmethod, classmethod)): target = obj.__func__
            if inspect.isclass(obj) or inspect.isroutine(target):
                sig = _signature(q.split('.')[-1] if level == 3 else q, target, method=level == 3)
                if isinstance(obj, property): md.append('*property*\n')
                elif sig: md.append(f"```python\n{'class ' if inspect.isclass(obj) else ''}{sig}\n```\n")
                if inspect.isclass(obj):
                    bases = [b for b in obj.__bases__ if b is not object]
                    if bases: md.append('Based on ' + ', '.join(f"`{b.__module__}.{b.__qualname__}`" for b in bases) + '.\n')
                doc = _doc(target if not inspect.isclass(obj) else obj)
                if doc: md.append(link(doc, page, scope=m) + '\n')
                table = _docments(target)
                if table: md.append(table + '\n')
            else:
                md.append(f"```python\n{q} = {_short(obj)}\n```\n")
        (out / f'{page}.md').write_text('\n'.join(md), encoding='utf-8')
        pages.append(f'api/{page}.md')
        rows.append(f"| [{mod}]({page}.md) | {link(summary, 'index', scope=m).replace('|', '&#124;')} |")
    (out / 'index.md').write_text('\n'.join([
        '# API reference\n',
        "Generated from the exported code of every module: for each public name (the module's `__all__`) its "
        "signature, docstring and parameter comments, after the notebook prose that introduces it. Each module's "
        "notebook page has the source, the examples and their tests.\n",
        '| module | |', '|---|---|', *rows, '']), encoding='utf-8')
    return ['api/index.md'] + pages, link

# ---------------------------------------------------------------------------------------------------------------
# Building

def _share_styles(site: Path):
    "mkdocs-jupyter inlines the same JupyterLab stylesheet (~0.6 MB) in every notebook page: keep one file, linked."
    for page in site.rglob('*.html'):
        html = page.read_text(encoding='utf-8')
        def one(m):
            css = m.group(1)
            if len(css) < 50_000: return m.group(0)
            f = site / 'assets' / 'stylesheets' / f"jupyter-{hashlib.sha1(css.encode()).hexdigest()[:10]}.css"
            if not f.exists(): f.parent.mkdir(parents=True, exist_ok=True); f.write_text(css, encoding='utf-8')
            return f'<link rel="stylesheet" href="{os.path.relpath(f, page.parent)}">'
        new = re.sub(r'<style type="text/css">(.*?)</style>', one, html, flags=re.S)
        if new != html: page.write_text(new, encoding='utf-8')

HEADING = re.compile(r'<h([1-6])\b([^>]*)\bid="([^"]*)"([^>]*)>(.*?)</h\1>', re.S)

def _unique_heading_ids(html: str) -> str:
    "Give repeated headings distinct ids (nbconvert repeats them), as Python-Markdown's `_1`, `_2` suffixes do."
    seen = {}
    def one(m):
        level, pre, hid, post, inner = m.groups()
        new = hid if hid and hid not in seen else f"{hid}_{seen.get(hid, 0)}"
        seen[hid] = seen.get(hid, 0) + 1
        seen.setdefault(new, 1)
        inner = inner.replace(f'href="#{hid}"', f'href="#{new}"')
        return f'<h{level}{pre}id="{new}"{post}>{inner}</h{level}>'
    return HEADING.sub(one, html)

def _toc_from_html(html: str, depth: int):
    "A notebook page's table of contents (MkDocs's tokens) read from its own headings, so that every entry lands."
    root, stack = [], []
    for m in HEADING.finditer(html):
        level = int(m.group(1))
        if level > depth: continue
        name = re.sub(r'<[^>]+>', '', re.sub(r'<a class="anchor-link".*?</a>', '', m.group(5), flags=re.S)).strip()
        tok = dict(level=level, id=m.group(3), name=name, children=[])
        while stack and stack[-1]['level'] >= level: stack.pop()
        (stack[-1]['children'] if stack else root).append(tok); stack.append(tok)
    return root, next((t['name'] for t in root if t['level'] == 1), None)

def _patch_mkdocs_jupyter():
    """mkdocs-jupyter builds a notebook page's table of contents from a separate Markdown rendering whose anchors
    differ from the page's own for headings with code or repeated headings (dead links); read it from the page."""
    import mkdocs_jupyter.plugin as plugin
    if getattr(plugin, '_ftlearn_patched', False): return
    bodies, nb2html = {}, plugin.convert.nb2html
    def nb2html_unique_ids(path, **kw):
        bodies[str(path)] = html = _unique_heading_ids(nb2html(path, **kw))
        return html
    plugin.convert.nb2html = nb2html_unique_ids
    plugin._get_nb_toc_tokens = lambda path, depth: _toc_from_html(bodies[str(path)], depth)
    plugin._ftlearn_patched = True

class _NoAltWarning(logging.Filter):   # nbconvert warns once per notebook that matplotlib's figures have no alt text
    def filter(self, r): return 'Alternative text is missing' not in r.getMessage()

def build(out: Path | None = None, quiet=False) -> Path:
    "Lay out the sources and build the site; returns the site's folder."
    from mkdocs.config import load_config
    from mkdocs.commands.build import build as mkdocs_build
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format='%(levelname)-7s %(message)s')
    for h in logging.getLogger().handlers: h.addFilter(_NoAltWarning())
    out = Path(out) if out else ROOT / '_docs'
    src, site = out / 'src', out / 'site'
    t0 = time.time()
    lessons, nbs = lay_out(src)
    api, link = write_api(src / 'api')
    for md in ('README.md', 'course/README.md'):   # `ftlearn.x.y` in the home page and the course's link to the API
        f = src / md
        f.write_text(link(f.read_text(encoding='utf-8'), prefix='../' * md.count('/') + 'api/', dotted_only=True), encoding='utf-8')
    shutil.copy(ROOT / 'docs' / 'extra.css', src / 'extra.css')
    import jupyter_server_mathjax   # MathJax, served from the site itself: nothing is loaded from outside
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / 'static', src / 'assets' / 'mathjax')
    (src / 'assets' / 'mathjax' / 'config' / 'ftlearn.js').write_text(MATHJAX_LOCAL, encoding='utf-8')
    t1 = time.time()
    nav = [{'Home': 'README.md'},
           {'Course': ['course/README.md', *lessons]},
           {'Library notebooks': nbs},   # titles: each notebook's first heading
           {'API reference': api}]
    cfg = load_config(str(ROOT / 'mkdocs.yml'), docs_dir=str(src), site_dir=str(site), nav=nav)
    # every notebook page is one folder down (nbs/, course/), so one relative address reaches the site's MathJax
    cfg.plugins['mkdocs-jupyter'].config['custom_mathjax_url'] = f'../assets/mathjax/MathJax.js?config={MATHJAX_CONFIG}'
    _patch_mkdocs_jupyter()
    cfg.plugins.on_startup(command='build', dirty=False)
    try: mkdocs_build(cfg)
    finally: cfg.plugins.on_shutdown()
    _share_styles(site)
    print(f"docs: {len(lessons)} lessons, {len(nbs)} notebooks, {len(api) - 1} API pages; sources {t1 - t0:.1f} s, "
          f"total {time.time() - t0:.1f} s -> {site}/index.html")
    return site

def serve(site: Path, port: int):
    import functools, http.server
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(('127.0.0.1', port), handler) as httpd:
        print(f"docs: serving {site} at http://127.0.0.1:{port}/ (Ctrl-C stops)")
        try: httpd.serve_forever()
        except KeyboardInterrupt: pass

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', type=Path, help="folder for src/ and site/ (default: _docs/)")
    ap.add_argument('--serve', action='store_true', help="serve the built site on 127.0.0.1")
    ap.add_argument('--port', type=int, default=8000)
    ap.add_argument('--quiet', action='store_true', help="only warnings and the summary line")
    a = ap.parse_args(argv)
    site = build(a.out, quiet=a.quiet)
    if a.serve: serve(site, a.port)

if __name__ == '__main__': main()
