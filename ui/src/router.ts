import { useEffect, useState } from 'preact/hooks';

/** The dashboard lives under `/ui/`; page paths below it are routed here, in the browser. */
export const BASE = '/ui/';

function currentPath(): string {
  const { pathname } = window.location;
  return pathname.startsWith(BASE) ? pathname.slice(BASE.length).replace(/\/$/, '') : '';
}

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((listener) => listener()));

export function navigate(path: string): void {
  window.history.pushState(null, '', BASE + path);
  listeners.forEach((listener) => listener());
}

/** The page path (without `/ui/`), re-rendering on navigation. */
export function usePath(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const update = () => setPath(currentPath());
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return path;
}

/** A same-app link: a real `href` (opens in a new tab, is announced as a link) without a page load. */
export function linkTo(path: string) {
  return {
    href: BASE + path,
    onClick: (event: MouseEvent) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      navigate(path);
    },
  };
}
