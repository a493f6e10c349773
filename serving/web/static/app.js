// secondlook's web page: a thin client of the public API, no framework and no build step.
// Every string from the API is put on the page as text (never as HTML), and the API key
// lives only in this tab's session storage and in request headers.

import { openViewer } from "./viewer.js";

const KEY_STORAGE = "secondlook.apiKey";

const VERDICTS = {
  AUTHENTIC: { title: "Authentic", line: "Both AI reviewers agree that the item is authentic." },
  COUNTERFEIT: { title: "Counterfeit", line: "Both AI reviewers agree that the item is counterfeit." },
  REFER_TO_EXPERT: {
    title: "Referred to an expert",
    line: "The AI reviewers could not settle this with confidence, so two experts will review it.",
  },
  UNABLE_TO_VERIFY: {
    title: "Unable to verify",
    line: "These photos are not enough to decide. Retake the photos listed below and appraise again.",
  },
  INCONCLUSIVE: { title: "Inconclusive", line: "The arbiter could not decide from these photos." },
};

const STATUSES = {
  decided: "Decided by the AI reviewers.",
  awaiting_review: "Waiting for two independent expert reviews.",
  arbitration: "The experts disagreed: waiting for an arbiter.",
  final: "Final: decided by human review.",
  retake_requested: "Waiting for new photos from the appraiser.",
};

const page = {
  me: null,
  options: null,
  chosen: [], // [{file, url, view}]
  blobs: new Map(), // image path -> object URL, so each picture is fetched once
};

// ---------------------------------------------------------------- small helpers

const $ = (selector) => document.querySelector(selector);

/** Build an element: el("p", {class: "x"}, "text", child). Strings become text nodes. */
function el(tag, attributes = {}, ...children) {
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
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

const words = (code) => String(code).replaceAll("_", " ");
const percent = (x) => `${Math.round(x * 100)}%`;
const when = (iso) => new Date(iso).toLocaleString();

function show(section, visible = true) {
  $(section).hidden = !visible;
}

// ---------------------------------------------------------------- errors and notices

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem || {};
  }
}

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

function showError(error) {
  const box = $("#error");
  box.textContent = typeof error === "string" ? error : readable(error);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function clearMessages() {
  $("#error").hidden = true;
  $("#notice").hidden = true;
}

function notice(text) {
  const box = $("#notice");
  box.textContent = text;
  box.hidden = false;
}

// ---------------------------------------------------------------- the API

const apiKey = () => sessionStorage.getItem(KEY_STORAGE) || "";

async function api(path, { method = "GET", json } = {}) {
  const headers = { Authorization: `Bearer ${apiKey()}`, Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch {
    throw new ApiError(0, {});
  }
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText };
    }
    throw new ApiError(response.status, problem);
  }
  return response;
}

const getJson = async (path) => (await api(path)).json();

/** An image the API serves behind the key, as an object URL (fetched once). */
async function picture(path) {
  if (!page.blobs.has(path)) {
    const blob = await (await api(path)).blob();
    page.blobs.set(path, URL.createObjectURL(blob));
  }
  return page.blobs.get(path);
}

/** POST the form with XMLHttpRequest: fetch cannot report upload progress. */
function uploadAppraisal(form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/appraisals");
    request.setRequestHeader("Authorization", `Bearer ${apiKey()}`);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.upload.addEventListener("load", () => onProgress(1));
    request.addEventListener("load", () => {
      if (request.status === 201) resolve(request.response);
      else reject(new ApiError(request.status, request.response));
    });
    request.addEventListener("error", () => reject(new ApiError(0, {})));
    request.send(form);
  });
}

// ---------------------------------------------------------------- signing in

async function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    page.me = await getJson("/v1/me");
    page.options = await getJson("/v1/form-options");
  } catch (error) {
    sessionStorage.removeItem(KEY_STORAGE);
    throw error;
  }
  $("#who").textContent = `${page.me.name} (${page.me.role})`;
  show("#who");
  show("#sign-out");
  show("#sign-in", false);
  setUpForm();
  const tabs = [...document.querySelectorAll("#tabs [data-tab]")];
  for (const tab of tabs) tab.hidden = !tab.dataset.roles.split(" ").includes(page.me.role);
  show("#tabs");
  openTab(tabs.find((tab) => !tab.hidden).dataset.tab);
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  for (const url of page.blobs.values()) URL.revokeObjectURL(url);
  page.blobs.clear();
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

// ---------------------------------------------------------------- the upload form

function setUpForm() {
  const { categories, max_photos, max_file_bytes, required_views } = page.options;
  const select = $("#category");
  select.replaceChildren(el("option", { value: "" }, "Not given"));
  for (const category of categories) select.append(el("option", { value: category }, words(category)));
  const needed = required_views.length ? ` Include at least: ${required_views.map(words).join(", ")}.` : "";
  $("#drop-help").textContent =
    `Up to ${max_photos} JPEG, PNG or WebP photos, ${Math.round(max_file_bytes / 1e6)} MB each.${needed}`;
}

function addPhotos(files) {
  clearMessages();
  for (const file of files) {
    if (page.chosen.length >= page.options.max_photos) {
      showError(`At most ${page.options.max_photos} photos per appraisal.`);
      break;
    }
    page.chosen.push({ file, url: URL.createObjectURL(file), view: "" });
  }
  renderChosen();
}

function renderChosen() {
  const list = $("#chosen");
  list.replaceChildren(
    ...page.chosen.map((photo, i) => {
      const id = `view-${i}`;
      const select = el(
        "select",
        { id, onchange: (event) => (photo.view = event.target.value) },
        el("option", { value: "" }, "Let the reviewers tell"),
        page.options.views.map((view) => el("option", { value: view, selected: view === photo.view }, words(view))),
      );
      return el(
        "li",
        { class: "chosen-photo" },
        el("img", { src: photo.url, alt: `Chosen photo ${i + 1}: ${photo.file.name}` }),
        el("span", { class: "name" }, photo.file.name),
        el("label", { for: id }, `View of photo ${i + 1}`),
        select,
        el(
          "button",
          {
            type: "button",
            class: "quiet",
            "aria-label": `Remove photo ${i + 1} (${photo.file.name})`,
            onclick: () => {
              URL.revokeObjectURL(photo.url);
              page.chosen.splice(i, 1);
              renderChosen();
            },
          },
          "Remove",
        ),
      );
    }),
  );
}

async function submitAppraisal(event) {
  event.preventDefault();
  clearMessages();
  if (!page.chosen.length) {
    showError("Add at least one photo first.");
    return;
  }
  const form = new FormData();
  for (const photo of page.chosen) {
    form.append("photos", photo.file, photo.file.name);
    form.append("views", photo.view);
  }
  for (const [name, selector] of [
    ["category", "#category"],
    ["declared_value", "#declared-value"],
    ["client_reference", "#client-reference"],
  ]) {
    const value = $(selector).value.trim();
    if (value) form.append(name, value);
  }
  const button = $("#appraise-submit");
  const progress = $("#upload-progress");
  const text = $("#upload-text");
  button.disabled = true;
  show("#upload");
  progress.value = 0;
  text.textContent = "Uploading…";
  try {
    const appraisal = await uploadAppraisal(form, (share) => {
      progress.value = Math.round(share * 100);
      text.textContent = share < 1 ? `Uploading… ${percent(share)}` : "Both reviewers are looking…";
    });
    const local = page.chosen.map((photo) => photo.url);
    page.chosen = [];
    renderChosen();
    $("#appraise-form").reset();
    await renderResult(appraisal, local);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
    show("#upload", false);
  }
}

// ---------------------------------------------------------------- one appraisal

async function openAppraisal(id) {
  clearMessages();
  try {
    await renderResult(await getJson(`/v1/appraisals/${encodeURIComponent(id)}`));
  } catch (error) {
    showError(error);
  }
}

function verdictBanner(appraisal) {
  const state = appraisal.final_state || appraisal.state;
  const verdict = VERDICTS[state] || { title: words(state), line: "" };
  return el(
    "div",
    { class: `banner verdict-${state}`, role: "status" },
    el("p", { class: "verdict" }, verdict.title),
    el("p", {}, verdict.line),
    appraisal.final_state && appraisal.final_state !== appraisal.state
      ? el("p", {}, `The AI verdict was ${VERDICTS[appraisal.state]?.title || appraisal.state}; human review decided otherwise.`)
      : null,
    appraisal.provisional && appraisal.status !== "final"
      ? el("p", { class: "provisional" }, "Provisional: the declared value is high, so an expert must confirm it.")
      : null,
    el("p", { class: "status" }, STATUSES[appraisal.status] || words(appraisal.status)),
  );
}

function retakeGuidance(appraisal) {
  if (appraisal.state !== "UNABLE_TO_VERIFY") return null;
  const steps = appraisal.reasons.filter((r) => r.code === "retake_photo" || r.code === "missing_view");
  return el(
    "div",
    { class: "retake" },
    el("h3", {}, "What to retake"),
    el("ol", {}, steps.map((reason) => el("li", {}, reason.message))),
  );
}

function reviewersTable(appraisal) {
  const rows = Object.entries(appraisal.reviewers).map(([name, reviewer]) =>
    el(
      "tr",
      {},
      el("th", { scope: "row" }, words(name)),
      el("td", {}, reviewer.score == null ? "—" : percent(reviewer.score)),
      el("td", {}, reviewer.decision ? words(reviewer.decision) : "—"),
      el("td", {}, `${reviewer.model.name || ""} ${reviewer.model.version || ""}`.trim()),
    ),
  );
  return el(
    "table",
    { class: "list" },
    el("caption", {}, "AI reviewers (score: calibrated chance that the item is counterfeit)"),
    el(
      "thead",
      {},
      el("tr", {}, ["Reviewer", "Score", "Decision", "Model"].map((h) => el("th", { scope: "col" }, h))),
    ),
    el("tbody", {}, rows),
  );
}

function photoCard(appraisalId, photo, localUrl) {
  const base = `/v1/appraisals/${encodeURIComponent(appraisalId)}/photos/${photo.index}`;
  const image = el("img", { class: "photo", alt: `Photo ${photo.index}: ${words(photo.view)} view` });
  const boxes = photo.defects.map((defect, n) => {
    const [x0, y0, x1, y1] = defect.box;
    const label = el("span", { class: "box-label" }, words(defect.class));
    label.style.top = `${n * 1.3}em`; // boxes often share a corner: stack their labels
    const box = el("span", { class: "box", title: `${words(defect.class)} ${percent(defect.score)}` }, label);
    Object.assign(box.style, {
      left: percent(x0),
      top: percent(y0),
      width: percent(x1 - x0),
      height: percent(y1 - y0),
    });
    return box;
  });
  const showPhoto = async () => {
    image.src = localUrl || (await picture(base));
  };
  const toggleId = `heatmap-${appraisalId}-${photo.index}`;
  const toggle = el("input", {
    type: "checkbox",
    id: toggleId,
    onchange: async (event) => {
      try {
        if (event.target.checked) image.src = await picture(photo.heatmap_url);
        else await showPhoto();
        image.dataset.showing = event.target.checked ? "heatmap" : "photo";
      } catch (error) {
        showError(error);
      }
    },
  });
  showPhoto().catch(showError);
  image.dataset.showing = "photo";
  // What the card shows (photo or heatmap), at its own pixels.
  const openFull = () =>
    openViewer(image.src, `Photo ${photo.index}: ${words(photo.view)} view${image.dataset.showing === "heatmap" ? ", heatmap" : ""}`).catch(showError);
  image.addEventListener("click", openFull);

  const labels = Object.entries(photo.labels).map(([task, label]) =>
    el("div", {}, el("dt", {}, words(task)), el("dd", {}, `${words(label.label)} (${percent(label.confidence)})`)),
  );
  const view = photo.view_given ? "given" : `predicted, ${percent(photo.view_confidence)}`;
  return el(
    "figure",
    { class: "card" },
    el("div", { class: "frame" }, image, boxes),
    el(
      "figcaption",
      {},
      el("p", { class: "card-title" }, `Photo ${photo.index}: ${words(photo.view)} (${view})`),
      // No heatmap_url in the blind view of a reviewer who has not yet submitted (the API's rule).
      photo.heatmap_url ? el("p", { class: "toggle" }, toggle, " ", el("label", { for: toggleId }, "Show heatmap")) : null,
      el("button", { type: "button", class: "quiet", onclick: openFull }, "Open full size"),
      el("dl", {}, labels),
      photo.defects.length
        ? el(
            "ul",
            { class: "defects" },
            photo.defects.map((d) =>
              el("li", {}, `${words(d.class)}: ${percent(d.score)}, ${percent(d.area_share)} of the photo`),
            ),
          )
        : el("p", { class: "hint" }, "No defects found."),
      photo.quality.ok ? null : el("ul", { class: "problems" }, photo.quality.problems.map((p) => el("li", {}, p))),
    ),
  );
}

function conditionReport(condition) {
  return el(
    "div",
    { class: "condition" },
    el("h3", {}, "Condition report"),
    el("p", {}, `Grade ${condition.grade} (${percent(condition.confidence)} confident)`),
    condition.defects.length
      ? el(
          "ul",
          {},
          condition.defects.map((d) => el("li", {}, `${words(d.class)} on photo ${d.photos.join(", ")}`)),
        )
      : el("p", {}, "No defects found on any photo."),
  );
}

async function renderResult(appraisal, localUrls = []) {
  const section = $("#result");
  const meta = [
    appraisal.client_reference && `reference ${appraisal.client_reference}`,
    appraisal.category && words(appraisal.category),
    appraisal.declared_value != null && `declared value ${appraisal.declared_value}`,
  ].filter(Boolean);
  const timings = Object.entries(appraisal.timings_ms || {})
    .map(([k, v]) => `${words(k.replace(/_ms$/, ""))} ${Math.round(v)} ms`)
    .join(", ");
  fill(
    section,
    el("h2", { id: "result-title", tabindex: -1 }, "Appraisal"),
    el("p", { class: "hint" }, `${when(appraisal.created_at)} · ${appraisal.id}${meta.length ? " · " + meta.join(" · ") : ""}`),
    verdictBanner(appraisal),
    el("h3", {}, "Reasons"),
    el("ul", { class: "reasons" }, appraisal.reasons.map((r) => el("li", {}, r.message))),
    retakeGuidance(appraisal),
    el("h3", {}, "Photos"),
    el("div", { class: "cards" }, appraisal.photos.map((p, i) => photoCard(appraisal.id, p, localUrls[i]))),
    conditionReport(appraisal.condition),
    reviewersTable(appraisal),
    appraisal.scores_withheld
      ? el("p", { class: "hint" }, "The reviewers' scores and evidence maps are shown to the experts, not here.")
      : null,
    el("p", { class: "hint" }, `Timings: ${timings}`),
  );
  for (const name of ["appraise", "history", "queue"]) show(`#${name}`, false);
  section.hidden = false;
  section.querySelector("h2").focus?.();
  section.scrollIntoView({ block: "start" });
}

// ---------------------------------------------------------------- history

async function loadHistory(event) {
  event?.preventDefault();
  clearMessages();
  const query = new URLSearchParams({ limit: "100" });
  const state = $("#history-verdict").value;
  const since = $("#history-since").value;
  const until = $("#history-until").value;
  if (state) query.set("verdict", state);
  if (since) query.set("since", new Date(`${since}T00:00:00`).toISOString());
  if (until) {
    const end = new Date(`${until}T00:00:00`);
    end.setDate(end.getDate() + 1); // the chosen day is included
    query.set("until", end.toISOString());
  }
  const rows = await getJson(`/v1/appraisals?${query}`);
  const body = $("#history-table tbody");
  body.replaceChildren(
    ...rows.map((a) =>
      el(
        "tr",
        {},
        el("td", {}, when(a.created_at)),
        el("td", {}, a.client_reference || "—"),
        el("td", {}, a.category ? words(a.category) : "—"),
        el("td", {}, VERDICTS[a.final_state || a.state]?.title || a.state),
        el("td", {}, words(a.status)),
        el("td", {}, el("button", { type: "button", class: "quiet", onclick: () => openAppraisal(a.id) }, "Open")),
      ),
    ),
  );
  show("#history-table", rows.length > 0);
  show("#history-empty", rows.length === 0);
}

// ---------------------------------------------------------------- blind review

async function loadQueue() {
  const arbiter = page.me.role === "arbiter";
  $("#queue-title").textContent = arbiter ? "Disagreements to arbitrate" : "Review queue";
  $("#queue-help").textContent = arbiter
    ? "Two experts disagreed on these items. Your decision is final; their reviews are shown after you submit yours."
    : "Review blind: the AI verdict and other reviews are shown only after you submit your own.";
  show("#review", false);
  const items = await getJson("/v1/review-queue");
  $("#queue-list").replaceChildren(
    ...items.map((item) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", "data-id": item.id, onclick: () => openReview(item).catch(showError) },
          `Review ${item.category ? words(item.category) : "item"} of ${when(item.created_at)}`,
        ),
        item.declared_value != null ? el("span", { class: "hint" }, ` declared value ${item.declared_value}`) : null,
      ),
    ),
  );
  show("#queue-empty", items.length === 0);
}

async function openReview(item) {
  clearMessages();
  const id = item.id;
  const appraisal = await getJson(`/v1/appraisals/${encodeURIComponent(id)}`);
  const decisions = item.decisions; // the API's rules: experts and arbiters decide differently
  const form = el(
    "form",
    { class: "review-form", method: "post", action: "/" },
    el(
      "fieldset",
      {},
      el("legend", {}, "Your decision"),
      decisions.map((decision) =>
        el(
          "label",
          { class: "choice" },
          el("input", { type: "radio", name: "decision", value: decision, required: true }),
          ` ${VERDICTS[decision]?.title || words(decision)}`,
        ),
      ),
    ),
    el("label", { for: "review-note" }, "Note (optional)"),
    el("textarea", { id: "review-note", name: "note", maxlength: 2000, rows: 3 }),
    el("button", { type: "submit" }, "Submit review"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    const data = new FormData(form);
    try {
      const answer = await (
        await api(`/v1/appraisals/${encodeURIComponent(id)}/reviews`, {
          method: "POST",
          json: { decision: data.get("decision"), note: data.get("note") || null },
        })
      ).json();
      await revealAfterReview(id, answer);
    } catch (error) {
      showError(error);
    }
  });
  // Blind: photos and findings only. No AI verdict, scores or reasons, and no other review.
  fill(
    $("#review"),
    el("h3", {}, `Item ${appraisal.id}`),
    el("p", { class: "hint" }, [appraisal.category && words(appraisal.category), when(appraisal.created_at)].filter(Boolean).join(" · ")),
    el("div", { class: "cards" }, appraisal.photos.map((p) => photoCard(appraisal.id, p))),
    conditionReport(appraisal.condition),
    form,
  );
  show("#review");
  $("#review").scrollIntoView({ block: "start" });
}

async function revealAfterReview(id, answer) {
  const seen = await getJson(`/v1/appraisals/${encodeURIComponent(id)}/reviews`);
  const outcome = answer.final_state
    ? `Final decision: ${VERDICTS[answer.final_state]?.title || answer.final_state}.`
    : STATUSES[answer.status] || words(answer.status);
  notice(`Your review is recorded. ${outcome}`);
  fill(
    $("#review"),
    el("h3", {}, "Reviews of this item"),
    el(
      "ul",
      { class: "reviews" },
      seen.map((r) => el("li", {}, `${words(r.stage)} ${r.reviewer}: ${VERDICTS[r.decision]?.title || r.decision}${r.note ? ` (“${r.note}”)` : ""}`)),
    ),
    el("button", { type: "button", onclick: () => loadQueue().catch(showError) }, "Back to the queue"),
  );
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
  $("#photo-input").addEventListener("change", (event) => {
    addPhotos(event.target.files);
    event.target.value = "";
  });
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addPhotos(event.dataTransfer.files);
  });
  $("#appraise-form").addEventListener("submit", submitAppraisal);
  $("#history-form").addEventListener("submit", (event) => loadHistory(event).catch(showError));
  if (apiKey()) signIn(apiKey()).catch(showError);
}

wire();
