// One appraisal as the page shows it (verdict, reasons, photo cards, condition report, AI
// reviewers), and the appraiser's history of past ones. The review view reuses the photo
// cards and the condition report for its blind view.

import { getJson, picture, session } from "./api.js";
import { $, clearMessages, el, fill, percent, show, showError, when, words } from "./dom.js";
import { openViewer } from "./viewer.js";

export const VERDICTS = {
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

// The review statuses come from the server (/v1/form-options: value, label, in_review), so
// that the page knows no status of its own.
const statusOption = (status) => (session.options?.statuses || []).find((s) => s.value === status);

/** What the page says of an item in `status`. */
export const statusLabel = (status) => statusOption(status)?.label || words(status);

/** Experts or an arbiter have still to decide an item in `status`. */
const inReview = (status) => Boolean(statusOption(status)?.in_review);

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
    appraisal.provisional && inReview(appraisal.status)
      ? el("p", { class: "provisional" }, "Provisional: the declared value is high, so an expert must confirm it.")
      : null,
    el("p", { class: "status" }, statusLabel(appraisal.status)),
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

export function photoCard(appraisalId, photo, localUrl) {
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

export function conditionReport(condition) {
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

export async function renderResult(appraisal, localUrls = []) {
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

export async function loadHistory(event) {
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
