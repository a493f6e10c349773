// Helpers for building the page, and its error and notice boxes. `el` puts every string in
// as a text node (never as HTML), so nothing the API returns can become markup or script.

import { ApiError } from "./api.js";

// ---------------------------------------------------------------- small helpers

export const $ = (selector) => document.querySelector(selector);

/** Build an element: el("p", {class: "x"}, "text", child). Strings become text nodes. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a node's children, skipping the null parts that optional sections return. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export const words = (code) => String(code).replaceAll("_", " ");
export const percent = (x) => `${Math.round(x * 100)}%`;
export const when = (iso) => new Date(iso).toLocaleString();

export function show(section, visible = true) {
  $(section).hidden = !visible;
}

// ---------------------------------------------------------------- errors and notices

function readable(error) {
  if (!(error instanceof ApiError)) return error.message || String(error);
  if (error.status === 0) return "The server could not be reached. Check the connection and try again.";
  if (error.status === 401) return `Your API key was not accepted: ${error.message}`;
  if (error.status === 429) {
    const wait = error.problem.retry_after ? ` Try again in ${Math.ceil(error.problem.retry_after)} s.` : "";
    return `${error.message}.${wait}`;
  }
  return error.message;
}

export function showError(error) {
  const box = $("#error");
  box.textContent = typeof error === "string" ? error : readable(error);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

export function clearMessages() {
  $("#error").hidden = true;
  $("#notice").hidden = true;
}

export function notice(text) {
  const box = $("#notice");
  box.textContent = text;
  box.hidden = false;
}
