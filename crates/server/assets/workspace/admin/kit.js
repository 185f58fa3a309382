// What every admin section is made of: lists read from the API, forms whose errors are the API's (the problem's
// `field` put next to its input, anything else in the form's alert), tables, and secrets shown once with a copy
// button. The server validates everything; the pages only show what it says.
import { api } from '../api.js';
import { t } from '../text.js';
import { html, useEffect, useRef, useState } from '../view.js';

let nextId = 0;
/// An id for one element of this page, stable across renders of its component.
export function useId(prefix) {
  const id = useRef(null);
  if (id.current === null) id.current = `${prefix}-${++nextId}`;
  return id.current;
}

/// `GET path` (a page of `data`, or any document), read again by `reload()`; a 401 is the session's notice.
export function useLoad(path, pick = (body) => body?.data ?? body) {
  const [value, setValue] = useState(null);
  const [error, setError] = useState(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (!path) return undefined;
    let live = true;
    api('GET', path)
      .then((body) => live && (setValue(pick(body)), setError(null)))
      .catch((failure) => live && failure.status !== 401 && setError(failure.message));
    return () => { live = false; };
  }, [path, round]);
  return { value, error, reload: () => setRound((r) => r + 1) };
}

/// Whose input a problem's `field` belongs to: the input of that path; else the first input inside it
/// (`calendar.weekly.monday[0]`, an interval, goes to that interval's start); else the nearest enclosing one
/// (`skills` for a detail about `skills[0]` when only the list has an input).
export function fieldFor(paths, field) {
  if (!field) return null;
  if (paths.includes(field)) return field;
  const inside = paths.find((p) => p.startsWith(`${field}.`) || p.startsWith(`${field}[`));
  if (inside) return inside;
  const enclosing = paths.filter((p) => field.startsWith(`${p}.`) || field.startsWith(`${p}[`));
  return enclosing.sort((a, b) => b.length - a.length)[0] ?? null;
}

/// A form's submission: `run(action)` calls the API and sorts its refusal into an error per input (`errors`, by
/// path) or the form's `alert`. Returns the action's result, or undefined when it was refused.
export function useSubmit(paths) {
  const [errors, setErrors] = useState({});
  const [alert, setAlert] = useState(null);
  const [busy, setBusy] = useState(false);
  async function run(action) {
    setBusy(true);
    setErrors({});
    setAlert(null);
    try {
      return await action();
    } catch (failure) {
      if (failure.status === 401) return undefined;
      const problem = failure.problem ?? {};
      const at = fieldFor(paths, problem.field);
      if (at) setErrors({ [at]: failure.message });
      else setAlert(failure.status === 0 ? t('app.unreachable') : failure.message);
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { errors, alert, busy, run, setAlert };
}

/// One labelled control with its error: `aria-invalid` and `aria-describedby` tie the API's words to the input.
export function Field({ label, path, errors, type = 'text', value, onValue, options, hint, ...rest }) {
  const id = useId('f');
  const error = errors?.[path];
  const described = [error && `${id}-error`, hint && `${id}-hint`].filter(Boolean).join(' ') || undefined;
  const common = { id, name: path, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': described, ...rest };
  let control;
  if (type === 'select') {
    control = html`<select ...${common} value=${value ?? ''} onChange=${(e) => onValue(e.currentTarget.value)}>
      ${options.map(([v, text]) => html`<option value=${v}>${text}</option>`)}
    </select>`;
  } else if (type === 'checkbox') {
    control = html`<input type="checkbox" ...${common} checked=${Boolean(value)}
      onChange=${(e) => onValue(e.currentTarget.checked)} />`;
  } else if (type === 'textarea') {
    control = html`<textarea ...${common} rows="3" value=${value ?? ''}
      onInput=${(e) => onValue(e.currentTarget.value)}></textarea>`;
  } else {
    control = html`<input type=${type} ...${common} value=${value ?? ''}
      onInput=${(e) => onValue(e.currentTarget.value)} />`;
  }
  return html`<div class=${`field${type === 'checkbox' ? ' check' : ''}`}>
    <label for=${id}>${label}</label>
    ${control}
    ${hint && html`<small id=${`${id}-hint`} class="hint">${hint}</small>`}
    ${error && html`<p id=${`${id}-error`} class="error field-error">${error}</p>`}
  </div>`;
}

/// A form of plain fields, `[{path, label, type, options, hint}]`, posted by `submit(values)`; `initial` fills it
/// (an edit), `onDone(result)` runs once the API took it.
export function Form({ title, fields, initial = {}, submit, onDone, submitLabel = t('form.save'), children }) {
  const [values, setValues] = useState(initial);
  const paths = fields.map((f) => f.path);
  const { errors, alert, busy, run } = useSubmit(paths);
  const titleId = useId('form');
  async function send(event) {
    event.preventDefault();
    const result = await run(() => submit(values));
    if (result !== undefined) onDone?.(result, setValues);
  }
  return html`<form class="admin-form" aria-labelledby=${titleId} onSubmit=${send} noValidate>
    <h3 id=${titleId}>${title}</h3>
    ${fields.map((f) => html`<${Field} ...${f} errors=${errors} value=${values[f.path]}
      onValue=${(v) => setValues((now) => ({ ...now, [f.path]: v }))} />`)}
    ${children}
    ${alert && html`<p role="alert" class="error">${alert}</p>`}
    <button type="submit" disabled=${busy}>${submitLabel}</button>
  </form>`;
}

/// A table with a caption and column headers; `row(item)` gives the cells, the first a row header.
export function Table({ caption, columns, items, row, empty }) {
  if (!items) return html`<p>${t('app.loading')}</p>`;
  if (items.length === 0) return html`<p class="empty">${empty ?? t('admin.none')}</p>`;
  return html`<div class="table-wrap" role="region" aria-label=${caption} tabindex="0"><table>
    <caption>${caption}</caption>
    <thead><tr>${columns.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
    <tbody>${items.map((item) => {
      const [first, ...rest] = row(item);
      return html`<tr><th scope="row">${first}</th>${rest.map((cell) => html`<td>${cell}</td>`)}</tr>`;
    })}</tbody>
  </table></div>`;
}

/// A button that copies `text`, then says so where screen readers hear it.
export function Copy({ text, label }) {
  const [status, setStatus] = useState('');
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setStatus(t('admin.copied'));
    } catch {
      setStatus(t('admin.copy_failed'));
    }
  }
  return html`<span class="copy">
    <button type="button" class="secondary" aria-label=${label ?? t('admin.copy')} onClick=${copy}>${t('admin.copy')}</button>
    <span role="status">${status}</span>
  </span>`;
}

/// A secret the API shows this once: the value, a copy button and the warning.
export function Secret({ label, value }) {
  if (!value) return null;
  return html`<div class="secret" role="group" aria-label=${label}>
    <p><strong>${label}</strong> ${t('admin.shown_once')}</p>
    <code>${value}</code> <${Copy} text=${value} label=${t('admin.copy_named', { name: label })} />
  </div>`;
}

/// A button that asks `question`, then sends `DELETE path` (deleting or revoking); a refusal goes to `setError`.
export function DeleteButton({ text, label, question, path, onDone, setError }) {
  async function remove() {
    if (!confirm(question)) return;
    try {
      await api('DELETE', path);
      onDone();
    } catch (failure) {
      if (failure.status !== 401) setError(failure.message);
    }
  }
  return html`<button type="button" class="secondary" aria-label=${label} onClick=${remove}>${text}</button>`;
}

/// An error of a list or action outside any form.
export function Failure({ message }) {
  return message ? html`<p role="alert" class="error">${message}</p>` : null;
}

/// Options for a select: `[[value, text]]`, with a first empty choice when `none` is given.
export function options(items, text = (i) => i.name, none) {
  const list = (items ?? []).map((i) => [i.id, text(i)]);
  return none === undefined ? list : [['', none], ...list];
}

/// `{id: name}` of a list, to show names where the API gives ids.
export function names(items) {
  return Object.fromEntries((items ?? []).map((i) => [i.id, i.name]));
}

export const ROLES = ['admin', 'supervisor', 'agent', 'integration'];
export const roleOptions = () => ROLES.map((r) => [r, t(`role.${r}`)]);

/// A date-time the API sent, as the reader's locale writes it.
export function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : '';
}

/// Every item of a paginated list (the admin's lists are short; 100 a page).
export async function all(path) {
  const items = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
    const page = await api('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`);
    items.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/// `useLoad` over every page of a list.
export function useAll(path) {
  const [value, setValue] = useState(null);
  const [error, setError] = useState(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    all(path)
      .then((items) => live && (setValue(items), setError(null)))
      .catch((failure) => live && failure.status !== 401 && setError(failure.message));
    return () => { live = false; };
  }, [path, round]);
  return { value, error, reload: () => setRound((r) => r + 1) };
}
