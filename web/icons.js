// icons.js — the app's line icons as inline SVG built with the DOM (no icon
// font, no emoji font needed on the machine). Each is 24×24, stroked with
// currentColor, hidden from screen readers (the text next to it speaks).

const NS = 'http://www.w3.org/2000/svg';
const P = {
  home: ['M3 11 12 3l9 8', 'M5 10v10h5v-6h4v6h5V10'],
  plus: ['M12 5v14', 'M5 12h14'],
  back: ['M15 5l-7 7 7 7'],
  bell: ['M6 17v-6a6 6 0 0 1 12 0v6l2 2H4z', 'M10 21h4'],
  user: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21a8 8 0 0 1 16 0'],
  chat: ['M4 5h16v11H10l-5 4v-4H4z'],
  search: ['M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z', 'M20 20l-4-4'],
  box: ['M3 7l9-4 9 4v10l-9 4-9-4z', 'M3 7l9 4 9-4', 'M12 11v10'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3 3'],
  star: ['M12 3l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17l-5.4 2.9 1-6.1-4.4-4.3 6.1-.9z'],
  check: ['M5 12l5 5 9-10'],
  undo: ['M9 14 4 9l5-5', 'M4 9h10a6 6 0 0 1 0 12h-3'],
  alert: ['M12 3 2 21h20z', 'M12 10v5', 'M12 18v.5'],
  lock: ['M6 11h12v10H6z', 'M8 11V8a4 4 0 0 1 8 0v3'],
  door: ['M6 3h10v18H6z', 'M16 5l3 1v15l-3 0', 'M13 12v.5'],
  hand: ['M8 13V6a1.5 1.5 0 0 1 3 0v5', 'M11 10V4.5a1.5 1.5 0 0 1 3 0V10', 'M14 10V6a1.5 1.5 0 0 1 3 0v7a7 7 0 0 1-7 7 6 6 0 0 1-5-3l-2-4a1.5 1.5 0 0 1 2.6-1.5L8 13'],
  handshake: ['M2 12l4-4 4 2 3-2 4 0 5 4', 'M6 14l4 4 2-1 2 2 2-1 3-3', 'M10 10l3 3'],
  camera: ['M4 8h3l2-3h6l2 3h3v11H4z', 'M12 17a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z'],
  image: ['M4 5h16v14H4z', 'M4 16l5-5 4 4 3-3 4 4', 'M15.5 9.5h.01'],
  pin: ['M12 21s7-6.5 7-12a7 7 0 0 0-14 0c0 5.5 7 12 7 12z', 'M12 11.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z'],
  shield: ['M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z'],
  sprout: ['M12 21v-9', 'M12 12c0-4 3-7 8-7 0 5-3 7-8 7z', 'M12 14c0-3-2-5-7-5 0 4 2 5 7 5z'],
  note: ['M6 3h9l4 4v14H6z', 'M9 12h7', 'M9 16h7'],
  compass: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M15.5 8.5l-2 5-5 2 2-5z'],
  smile: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M8.5 14a4 4 0 0 0 7 0', 'M9 9.5h.01', 'M15 9.5h.01'],
  frown: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M8.5 16a4 4 0 0 1 7 0', 'M9 9.5h.01', 'M15 9.5h.01'],
};

// icon('bell', 22) → <svg>; unknown names draw a dot.
export function icon(name, size = 22) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '1.8');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('ic');
  for (const d of P[name] || ['M12 12h.01']) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}
