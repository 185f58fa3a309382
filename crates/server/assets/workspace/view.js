// What every page renders with: preact's `render`, its hooks, and `html`, htm's tagged templates bound to preact.
// Text put into a template is always a text node, never markup.
import { h, render } from '../vendor/preact/preact.js';
import htm from '../vendor/preact/htm.js';

export { render };
export { useEffect, useRef, useState } from '../vendor/preact/hooks.js';
export const html = htm.bind(h);
