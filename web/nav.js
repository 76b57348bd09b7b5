// nav.js — client-side navigation. Links are ordinary <a href="/…"> (they
// work with a middle click and without this code); app.js catches clicks on
// them and calls go(). The server answers every app path with index.html,
// so a reload or a shared deep link lands on the same page.

let handler = () => {};

export function onNavigate(fn) { handler = fn; }

// Shows path (with query) as a new history entry, or replacing the current one.
export function go(path, { replace = false } = {}) {
  const d = (history.state && history.state.d) || 0;
  if (replace) history.replaceState({ d }, '', path);
  else history.pushState({ d: d + 1 }, '', path);
  handler();
}

// Goes back within the app, or to fallback when this page was the first
// one of the tab (history.state.d counts the app's own entries).
export function back(fallback = '/') {
  if (history.state && history.state.d > 0) history.back();
  else go(fallback, { replace: true });
}
