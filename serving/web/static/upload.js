// The new-appraisal form: photos chosen by dropping or picking files, the view of each, the
// optional fields, and the upload with its progress. The answer is shown as an appraisal.

import { session, uploadAppraisal } from "./api.js";
import { renderResult } from "./appraisal.js";
import { $, clearMessages, el, percent, show, showError, words } from "./dom.js";

let chosen = []; // [{file, url, view}]

export function setUpForm() {
  const { categories, max_photos, max_file_bytes, required_views } = session.options;
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
    if (chosen.length >= session.options.max_photos) {
      showError(`At most ${session.options.max_photos} photos per appraisal.`);
      break;
    }
    chosen.push({ file, url: URL.createObjectURL(file), view: "" });
  }
  renderChosen();
}

function renderChosen() {
  const list = $("#chosen");
  list.replaceChildren(
    ...chosen.map((photo, i) => {
      const id = `view-${i}`;
      const select = el(
        "select",
        { id, onchange: (event) => (photo.view = event.target.value) },
        el("option", { value: "" }, "Let the reviewers tell"),
        session.options.views.map((view) => el("option", { value: view, selected: view === photo.view }, words(view))),
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
              chosen.splice(i, 1);
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
  if (!chosen.length) {
    showError("Add at least one photo first.");
    return;
  }
  const form = new FormData();
  for (const photo of chosen) {
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
    const local = chosen.map((photo) => photo.url);
    chosen = [];
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

/** The file picker, drag and drop onto #drop, and the form's submit. */
export function wireUploadForm() {
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
}
