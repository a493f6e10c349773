// A full-size photo viewer: a modal <dialog> where an appraiser or expert reads a stamp's
// letters or a screw head at the photo's own pixels. Zoom with the buttons, the mouse wheel
// or the + / - / 0 / 1 keys; pan by dragging, scrolling or the arrow keys; Escape closes.
// The image is the one the card already holds (a blob URL of the full-size photo or of its
// heatmap), so opening it costs no second download.

const MIN_SCALE = 0.05;
const MAX_SCALE = 8;
const STEP = 1.25;

let viewer = null;

function build() {
  const dialog = document.createElement("dialog");
  dialog.id = "viewer";
  dialog.className = "viewer";
  dialog.setAttribute("aria-labelledby", "viewer-title");
  dialog.innerHTML = `
    <div class="viewer-bar">
      <h2 id="viewer-title"></h2>
      <output id="viewer-zoom" aria-live="polite"></output>
      <button type="button" data-zoom="out" aria-label="Zoom out">−</button>
      <button type="button" data-zoom="fit">Fit</button>
      <button type="button" data-zoom="actual">Actual size</button>
      <button type="button" data-zoom="in" aria-label="Zoom in">+</button>
      <button type="button" data-zoom="close">Close</button>
    </div>
    <div class="viewer-stage" tabindex="0" aria-label="Photo, drag or use the arrow keys to pan">
      <img alt="">
    </div>`;
  document.body.append(dialog);
  const stage = dialog.querySelector(".viewer-stage");
  const image = stage.querySelector("img");
  const state = { dialog, stage, image, scale: 1 };

  dialog.querySelector(".viewer-bar").addEventListener("click", (event) => {
    const action = event.target.closest("button")?.dataset.zoom;
    if (action === "close") dialog.close();
    else if (action) zoom(state, action);
  });
  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    setScale(state, state.scale * (event.deltaY < 0 ? STEP : 1 / STEP), event);
  }, { passive: false });
  stage.addEventListener("keydown", (event) => {
    const action = { "+": "in", "=": "in", "-": "out", 0: "fit", 1: "actual" }[event.key];
    if (action) {
      event.preventDefault();
      zoom(state, action);
    }
  });
  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, left: stage.scrollLeft, top: stage.scrollTop };
    stage.setPointerCapture(event.pointerId);
    stage.classList.add("dragging");
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    stage.scrollLeft = drag.left - (event.clientX - drag.x);
    stage.scrollTop = drag.top - (event.clientY - drag.y);
  });
  const endDrag = () => {
    drag = null;
    stage.classList.remove("dragging");
  };
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);
  return state;
}

function fitScale({ stage, image }) {
  return Math.min(1, stage.clientWidth / image.naturalWidth, stage.clientHeight / image.naturalHeight);
}

function zoom(state, action) {
  const scale = {
    in: state.scale * STEP,
    out: state.scale / STEP,
    fit: fitScale(state),
    actual: 1,
  }[action];
  setScale(state, scale);
}

/** Set the zoom, keeping the photo point under the pointer (or the stage's centre) in place. */
function setScale(state, wanted, pointer = null) {
  const { stage, image } = state;
  const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, wanted));
  const box = stage.getBoundingClientRect();
  const anchorX = pointer ? pointer.clientX - box.left : stage.clientWidth / 2;
  const anchorY = pointer ? pointer.clientY - box.top : stage.clientHeight / 2;
  const photoX = (stage.scrollLeft + anchorX) / state.scale;
  const photoY = (stage.scrollTop + anchorY) / state.scale;
  state.scale = scale;
  image.style.width = `${Math.round(image.naturalWidth * scale)}px`;
  image.style.height = `${Math.round(image.naturalHeight * scale)}px`;
  image.style.imageRendering = scale > 1 ? "pixelated" : "auto"; // enlarged: the photo's own pixels
  stage.scrollLeft = photoX * scale - anchorX;
  stage.scrollTop = photoY * scale - anchorY;
  state.dialog.querySelector("#viewer-zoom").value =
    `${Math.round(scale * 100)}% · ${image.naturalWidth} × ${image.naturalHeight} px`;
}

/** Open `src` (an image URL the page already holds) full size, titled `title`. */
export async function openViewer(src, title) {
  viewer ||= build();
  const { dialog, stage, image } = viewer;
  dialog.querySelector("#viewer-title").textContent = title;
  image.alt = title;
  image.src = src;
  await image.decode();
  dialog.showModal();
  viewer.scale = 1;
  setScale(viewer, fitScale(viewer));
  stage.focus();
}
