// secondlook's web page: a thin client of the public API, no framework and no build step.
// Every string from the API is put on the page as text (never as HTML), and the API key
// lives only in this tab's session storage and in request headers.
//
// This entry module signs in and out, switches tabs and wires the page's controls. The rest
// is ES modules the browser loads itself, each from /static (so the page's CSP, script-src
// 'self', allows them):
//   dom.js        el/fill/$ and the other small helpers; the error and notice boxes
//   api.js        requests with the key, ApiError, pictures as object URLs, the session
//   upload.js     the new-appraisal form and its upload
//   appraisal.js  one appraisal's result (verdict, photo cards, condition) and the history
//   review.js     the blind review queue for experts and arbiters
//   viewer.js     the full-size photo viewer

import { apiKey, endSession, startSession } from "./api.js";
import { loadHistory } from "./appraisal.js";
import { $, clearMessages, show, showError } from "./dom.js";
import { loadQueue } from "./review.js";
import { setUpForm, wireUploadForm } from "./upload.js";

// ---------------------------------------------------------------- signing in

async function signIn(key) {
  const { me } = await startSession(key);
  $("#who").textContent = `${me.name} (${me.role})`;
  show("#who");
  show("#sign-out");
  show("#sign-in", false);
  setUpForm();
  const tabs = [...document.querySelectorAll("#tabs [data-tab]")];
  for (const tab of tabs) tab.hidden = !tab.dataset.roles.split(" ").includes(me.role);
  show("#tabs");
  openTab(tabs.find((tab) => !tab.hidden).dataset.tab);
}

function signOut() {
  endSession();
  window.location.reload();
}

function openTab(name) {
  clearMessages();
  for (const tab of document.querySelectorAll("#tabs [data-tab]")) {
    const current = tab.dataset.tab === name;
    tab.setAttribute("aria-current", current ? "page" : "false");
  }
  for (const section of ["appraise", "history", "queue"]) show(`#${section}`, section === name);
  show("#result", false);
  if (name === "history") loadHistory().catch(showError);
  if (name === "queue") loadQueue().catch(showError);
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("#sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearMessages();
    const field = $("#api-key");
    signIn(field.value.trim()).catch(showError);
    field.value = "";
  });
  $("#sign-out").addEventListener("click", signOut);
  for (const tab of document.querySelectorAll("#tabs [data-tab]")) {
    tab.addEventListener("click", () => openTab(tab.dataset.tab));
  }
  wireUploadForm();
  $("#history-form").addEventListener("submit", (event) => loadHistory(event).catch(showError));
  if (apiKey()) signIn(apiKey()).catch(showError);
}

wire();
