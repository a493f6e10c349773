// Blind review for experts and arbiters: the queue, one item's photos and findings without
// the AI verdict or other reviews, the decision form, and what is revealed after submitting.

import { api, getJson, session } from "./api.js";
import { conditionReport, photoCard, statusLabel, VERDICTS } from "./appraisal.js";
import { $, clearMessages, el, fill, notice, show, showError, when, words } from "./dom.js";

export async function loadQueue() {
  const arbiter = session.me.role === "arbiter";
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
    : statusLabel(answer.status);
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
