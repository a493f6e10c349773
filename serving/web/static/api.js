// The API client: the key the user signed in with, requests that carry it, and who is
// signed in. The key lives only in this tab's session storage and in request headers.
// A failed request throws an ApiError holding the server's problem details.

const KEY_STORAGE = "secondlook.apiKey";

/** Who is signed in (/v1/me), the upload form's choices and the review statuses (/v1/form-options). */
export const session = { me: null, options: null };

const blobs = new Map(); // image path -> object URL, so each picture is fetched once

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem || {};
  }
}

export const apiKey = () => sessionStorage.getItem(KEY_STORAGE) || "";

export async function api(path, { method = "GET", json } = {}) {
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

export const getJson = async (path) => (await api(path)).json();

/** An image the API serves behind the key, as an object URL (fetched once). */
export async function picture(path) {
  if (!blobs.has(path)) {
    const blob = await (await api(path)).blob();
    blobs.set(path, URL.createObjectURL(blob));
  }
  return blobs.get(path);
}

/** POST the form with XMLHttpRequest: fetch cannot report upload progress. */
export function uploadAppraisal(form, onProgress) {
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

/** Keep the key and load the session; a key the server refuses is not kept. */
export async function startSession(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    session.me = await getJson("/v1/me");
    session.options = await getJson("/v1/form-options");
  } catch (error) {
    sessionStorage.removeItem(KEY_STORAGE);
    throw error;
  }
  return session;
}

/** Forget the key and free the pictures fetched with it. */
export function endSession() {
  sessionStorage.removeItem(KEY_STORAGE);
  for (const url of blobs.values()) URL.revokeObjectURL(url);
  blobs.clear();
}
