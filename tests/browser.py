"""Drive JupyterLab, the hub and formgrader in headless Chromium (Debian's `chromium`, through Playwright's client).

Used by test_browser.py. Every wait is on an event or a page state, with generous time-outs (CI machines are busy);
every JavaScript error and every HTTP error the pages meet is collected, and the test fails listing them.
"""
import os
import re
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium phones home, and a closed network refuses those connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = int(os.environ.get("BROWSER_TIMEOUT_MS", 180_000))  # for any one wait: a busy 2-core machine can take long to start a kernel or run a notebook


class Browser:
    """One Chromium (Playwright gives each launch a fresh profile); a context per user, with its own cookies."""

    def __init__(self, playwright, artifacts):
        self.artifacts = Path(artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        for old in self.artifacts.glob("[0-9][0-9]-*.png"):  # an earlier run's screenshots
            old.unlink()
        self.problems = []  # (who and kind, what, on which page), in the order they happened
        self.step = 0
        self.browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)

    def page(self, who):
        """A page in a new context: `who`'s own browser window, cookies and all."""
        context = self.browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", lambda m: m.type == "error" and self.problems.append(
            (f"{who}: console error", m.text, (m.location or {}).get("url") or (m.page.url if m.page else ""))))
        context.on("weberror", lambda e: self.problems.append(
            (f"{who}: uncaught JavaScript error", str(e.error), e.page.url if e.page else "")))
        context.on("response", lambda r: r.status >= 400 and self.problems.append(
            (f"{who}: HTTP {r.status}", f"{r.request.method} {r.url}", r.frame.url if r.frame else "")))
        return context.new_page()

    def shot(self, page, what):
        """Screenshot named by step number: 01-student-logged-in.png."""
        self.step += 1
        slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")
        path = self.artifacts / f"{self.step:02d}-{slug}.png"
        page.screenshot(path=str(path))
        return path

    def report(self):
        return "\n".join(f"  {kind}: {text}  (page {url})" for kind, text, url in self.problems)

    def close(self):
        self.browser.close()


# ---- JupyterLab ----------------------------------------------------------------------------------------------

def cell(page, index):
    """The notebook's cell number `index` (0-based), whether or not it is scrolled into view."""
    return page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell[data-windowed-list-index='{index}']")


def _indicator(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator")


def dismiss_news(page):
    """JupyterLab asks once whether to fetch Jupyter's news; a student would answer No (the network is closed)."""
    no = page.locator(".jp-toast-button", has_text=re.compile(r"^\s*No\s*$"))
    if no.count():
        no.first.click()


def wait_for_notebook(page, n_cells):
    """Wait until the open notebook shows all its cells and its kernel has started and is idle."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(n_cells - 1).wait_for(state="attached")
    kernel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar .jp-KernelName")
    page.wait_for_function("el => el && !/No Kernel|Connecting/.test(el.textContent)", arg=kernel.element_handle())
    _indicator(page).and_(page.locator("[data-status='idle']")).wait_for()


def prompt(page, index):
    return cell(page, index).locator(".jp-InputPrompt").text_content().strip()


def menu(page, top, item):
    """Click a menu bar entry, then an item of its menu."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def run_all(page, last_index):
    """Run > Run All Cells, then wait until cell `last_index` (where the run ends, or stops at a failing test) has
    a new execution count and nothing is queued or running."""
    before = prompt(page, last_index)
    menu(page, "Run", "Run All Cells")
    target = cell(page, last_index).locator(".jp-InputPrompt").element_handle()
    page.wait_for_function("([el, before]) => /^\\[\\d+\\]:$/.test(el.textContent.trim()) && el.textContent.trim() !== before",
                           arg=[target, before])
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]"
                           ".some(p => p.textContent.includes('[*]'))")
    _indicator(page).and_(page.locator("[data-status='idle']")).wait_for()


def show(page, index, block="start"):
    """Scroll cell `index` into the notebook's view, its top (block='start') or its end (block='end', to show a
    traceback) at the edge (for a screenshot, and because the notebook renders cells lazily)."""
    cell(page, index).evaluate("(el, block) => el.scrollIntoView({block})", block)


def error_output(page, index):
    """The traceback cell `index` shows, or '' when it shows none."""
    show(page, index, "end")
    out = cell(page, index).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                    has_text="Traceback")  # JupyterLab renders an error as stderr text
    return out.first.inner_text() if out.count() else ""


def type_into(page, index, text, markdown=False):
    """Replace cell `index`'s source by `text`, as a student typing it (inserted in one go, without the editor's
    auto-indent and bracket closing), and leave edit mode."""
    target = cell(page, index)
    target.scroll_into_view_if_needed()
    if markdown:
        target.dblclick()  # a rendered markdown cell opens its editor on double-click
    target.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)
    page.keyboard.press("Escape")
    page.wait_for_function("([el, text]) => el.textContent.includes(text)",
                           arg=[target.locator(".cm-content").element_handle(), text.splitlines()[-1].strip()])
    if markdown:
        page.keyboard.press("Shift+Enter")  # render it again, as a student would
        target.locator(".jp-RenderedMarkdown").wait_for()


def save(page):
    """File > Save Notebook, then wait for the server's answer and until the notebook's tab no longer shows unsaved
    changes. (Waiting for the answer matters: the next save, Validate's, finding this one still under way would see
    the file changed on disk, and JupyterLab's "File Changed" dialog would block it.)"""
    with page.expect_response(lambda r: r.request.method == "PUT" and "/api/contents/" in r.url) as put:
        page.keyboard.press("Control+S")
    assert put.value.ok, f"saving the notebook failed: HTTP {put.value.status} {put.value.url}"
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current:not(.jp-mod-dirty)").wait_for()


def validate(page):
    """Press Validate, wait for nbgrader's result dialog; return its kind (nbgrader's class for it: 'success',
    'failed', 'changed', 'type-changed', or '' for "There was an error running the validate command") and its text.
    Leaves the dialog open."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for()
    kinds = re.findall(r"validation-([a-z-]+)", message.get_attribute("class") or "")
    return (kinds[0] if kinds else ""), message.inner_text()


def close_dialog(page):
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")
