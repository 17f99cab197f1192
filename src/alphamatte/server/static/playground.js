// The recommended workflow, in the browser: a <= 1024 px JPEG proxy goes up, the matte comes
// back, is enlarged to the original's size and applied to the untouched original as straight
// alpha. The API key lives in sessionStorage only (gone when the tab closes).

const PROXY_SIDE = 1024;
const JPEG_QUALITY = 0.92;
const KEY_STORAGE = "alphamatte.apiKey";

const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
const fileInput = $("file");
const drop = $("drop");

const MESSAGES = {
  400: "The request was malformed.",
  401: "The API key was not accepted. Check it, or create one with `alphamatte keys create`.",
  402: "This key has no credit left. Top it up with `alphamatte keys topup`.",
  403: "This key's credits have expired.",
  413: "The image is too large for the server (10 MB / 50 megapixels at most).",
  415: "That file is not an image the server can read (JPEG, PNG, WebP, TIFF, BMP or GIF).",
  422: "The image could not be decoded; it may be corrupt or truncated.",
  429: "Too many requests for this key right now.",
  503: "The server is busy.",
};

const modelSelect = $("model");

// The models this server serves (GET /v1.0/models): the first is its default.
async function loadModels() {
  try {
    const response = await fetch("/v1.0/models");
    if (!response.ok) return;
    const { models } = await response.json();
    for (const model of models) {
      const option = document.createElement("option");
      option.value = model.name;
      const price = model.credits === 1 ? "1 credit" : `${model.credits} credits`;
      const licence = model.commercial ? "" : ", non-commercial";
      option.textContent = `${model.name} (${price}${licence})`;
      modelSelect.append(option);
    }
  } catch (_) {
    // No list: the server's default model answers.
  }
}
loadModels();

function withModel(path) {
  return modelSelect.value ? `${path}?model=${encodeURIComponent(modelSelect.value)}` : path;
}

keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
  refreshCredit();
});

function showStatus(text) {
  $("status-text").textContent = text;
  $("status").hidden = !text;
}

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
}

async function explain(response) {
  let detail = "";
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") detail = body.detail;
    // remove.bg's dialect (the product shot): {"errors": [{"title", "code", "detail"}]}
    if (body && Array.isArray(body.errors) && body.errors[0]) {
      const { title, detail: more } = body.errors[0];
      return `${title} (${response.status}: ${more})`;
    }
  } catch (_) { /* not JSON */ }
  let text = MESSAGES[response.status] || `The server answered ${response.status}.`;
  if (response.status === 429 || response.status === 503) {
    const wait = response.headers.get("Retry-After");
    if (wait) text += ` Try again in ${wait} s.`;
  }
  return detail ? `${text} (${response.status}: ${detail})` : `${text} (${response.status})`;
}

async function refreshCredit() {
  const key = keyInput.value.trim();
  $("credit").textContent = "";
  if (!key) return;
  try {
    const response = await fetch("/available-credit", { headers: { "X-API-Key": key } });
    if (!response.ok) {
      if (response.status === 401) showError(await explain(response));
      return;
    }
    const body = await response.json();
    $("credit").textContent = `${body.credit} credit${body.credit === 1 ? "" : "s"} left` +
      (body.expiration_date ? `, until ${body.expiration_date}` : "");
  } catch (_) { /* the credit line is a nicety; the main request reports real failures */ }
}

function canvasOf(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

// Shrink in halving steps: one big drawImage step aliases, like a nearest-neighbour resize.
function shrink(source, width, height) {
  let current = source;
  let w = source.width, h = source.height;
  while (w / 2 >= width && h / 2 >= height) {
    w = Math.round(w / 2); h = Math.round(h / 2);
    const step = canvasOf(w, h);
    const ctx = step.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(current, 0, 0, w, h);
    current = step;
  }
  const out = canvasOf(width, height);
  const ctx = out.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(current, 0, 0, width, height);
  return out;
}

function toBlob(canvas, type, quality) {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("encoding failed"))), type, quality));
}

function blobToBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function fitInto(canvas, width, height) {
  canvas.width = width;
  canvas.height = height;
  return canvas.getContext("2d");
}

async function serverPreview(file, key) {
  showStatus("Your browser cannot open this format: asking the server for a preview…");
  const form = new FormData();
  form.append("file", file);
  let response;
  try {
    response = await fetch("/v1.0/preview", { method: "POST", headers: { "X-API-Key": key }, body: form });
  } catch (_) {
    showStatus("");
    showError("The server could not be reached.");
    return null;
  }
  if (!response.ok) {
    showStatus("");
    showError(await explain(response));
    return null;
  }
  try {
    return await createImageBitmap(await response.blob());
  } catch (_) {
    showStatus("");
    showError("Your browser could not open that file as an image.");
    return null;
  }
}

async function process(file) {
  showError("");
  const key = keyInput.value.trim();
  if (!key) { showError("Enter an API key first."); return; }
  sessionStorage.setItem(KEY_STORAGE, key);
  let original;
  try {
    original = await createImageBitmap(file); // EXIF orientation applied, like an <img>
  } catch (_) {
    // HEIC and some AVIFs: this browser cannot decode them, the server can (free, upright,
    // the photo's colour profile kept).
    original = await serverPreview(file, key);
    if (!original) return;
  }
  const { width, height } = original;
  const scale = Math.min(1, PROXY_SIDE / Math.max(width, height)); // never enlarge
  const pw = Math.max(1, Math.round(width * scale)), ph = Math.max(1, Math.round(height * scale));

  showStatus("Preparing the photo…");
  const full = canvasOf(width, height);
  full.getContext("2d").drawImage(original, 0, 0);
  const proxy = await toBlob(shrink(full, pw, ph), "image/jpeg", JPEG_QUALITY);

  showStatus(`Sending a ${pw}×${ph} proxy (${Math.round(proxy.size / 1024)} kB)…`);
  let response;
  try {
    response = await fetch(withModel("/v1.0/alpha-channel-base64"), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": key },
      body: JSON.stringify({ image_base64: await blobToBase64(proxy) }),
    });
  } catch (_) {
    showStatus("");
    showError("The server could not be reached.");
    return;
  }
  if (!response.ok) {
    showStatus("");
    showError(await explain(response));
    return;
  }
  showStatus("Applying the matte to the original…");
  const { alpha_base64: alphaB64 } = await response.json();
  const matteImage = new Image();
  matteImage.src = `data:image/png;base64,${alphaB64}`;
  await matteImage.decode();

  // Matte up to the original's size (smooth interpolation), then straight alpha.
  const matteFull = canvasOf(width, height);
  const mctx = matteFull.getContext("2d");
  mctx.imageSmoothingQuality = "high";
  mctx.drawImage(matteImage, 0, 0, width, height);
  const matteData = mctx.getImageData(0, 0, width, height).data;
  const pixels = full.getContext("2d").getImageData(0, 0, width, height);
  for (let i = 3; i < pixels.data.length; i += 4) pixels.data[i] = matteData[i - 3];
  const cutout = canvasOf(width, height);
  cutout.getContext("2d").putImageData(pixels, 0, 0);

  fitInto($("original"), width, height).drawImage(full, 0, 0);
  fitInto($("matte"), width, height).drawImage(matteFull, 0, 0);
  fitInto($("cutout"), width, height).drawImage(cutout, 0, 0);
  renderEffects(full, cutout);
  $("results").hidden = false;
  $("effects").hidden = false;

  const [matteBlob, cutoutBlob] = await Promise.all([toBlob(matteFull, "image/png"), toBlob(cutout, "image/png")]);
  const stem = file.name.replace(/\.[^.]+$/, "") || "photo";
  setDownload($("download-matte"), matteBlob, `${stem}.matte.png`);
  setDownload($("download-cutout"), cutoutBlob, `${stem}.cutout.png`);
  $("sizes").textContent = `Original ${width}×${height}; proxy ${pw}×${ph}.`;
  $("downloads").hidden = false;
  lastFile = file;
  $("product").hidden = false;
  showStatus("");
  refreshCredit();
}

function setDownload(link, blob, name) {
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = name;
}

let lastSources = null;
function renderEffects(full, cutout) {
  lastSources = { full, cutout };
  // Previews at screen size keep the page quick on large photos.
  const scale = Math.min(1, 800 / Math.max(full.width, full.height));
  const w = Math.round(full.width * scale), h = Math.round(full.height * scale);

  const colour = fitInto($("preview-colour"), w, h);
  colour.fillStyle = $("bg-colour").value;
  colour.fillRect(0, 0, w, h);
  colour.drawImage(cutout, 0, 0, w, h);

  const blur = fitInto($("preview-blur"), w, h);
  blur.filter = `blur(${$("blur").value}px)`;
  blur.drawImage(full, 0, 0, w, h);
  blur.filter = "none";
  blur.drawImage(cutout, 0, 0, w, h);

  const shadow = fitInto($("preview-shadow"), w, h);
  shadow.fillStyle = "#ffffff";
  shadow.fillRect(0, 0, w, h);
  shadow.shadowColor = "rgba(0, 0, 0, 0.45)";
  shadow.shadowBlur = 18;
  shadow.shadowOffsetX = 10;
  shadow.shadowOffsetY = 10;
  shadow.drawImage(cutout, 0, 0, w, h);
}

for (const id of ["bg-colour", "blur"]) {
  $(id).addEventListener("input", () => lastSources && renderEffects(lastSources.full, lastSources.cutout));
}

// The product shot is made by the server, from the untouched original: crop, margin,
// background and format are the same code as `alphamatte cutout` and remove.bg's endpoint.
let lastFile = null;
async function makeProduct() {
  if (!lastFile) return;
  showError("");
  const form = new FormData();
  form.append("image_file", lastFile);
  form.append("size", "full");
  form.append("crop", $("product-crop").checked ? "true" : "false");
  if ($("product-crop").checked) form.append("crop_margin", $("product-margin").value.trim());
  if ($("product-use-bg").checked) form.append("bg_color", $("product-bg").value.slice(1));
  const format = $("product-format").value;
  form.append("format", format);
  showStatus("Making the product shot from the original…");
  let response;
  try {
    response = await fetch(withModel("/v1.0/removebg"), {
      method: "POST",
      headers: { "X-API-Key": keyInput.value.trim() },
      body: form,
    });
  } catch (_) {
    showStatus("");
    showError("The server could not be reached.");
    return;
  }
  showStatus("");
  if (!response.ok) { showError(await explain(response)); return; }
  const blob = await response.blob();
  const stem = lastFile.name.replace(/\.[^.]+$/, "") || "photo";
  setDownload($("download-product"), blob, `${stem}.product.${format}`);
  $("download-product").hidden = false;
  const shown = $("product-result");
  if (shown.src) URL.revokeObjectURL(shown.src);
  shown.hidden = format === "zip";  // an archive has nothing to show
  if (format !== "zip") shown.src = URL.createObjectURL(blob);
  refreshCredit();
}
$("product-make").addEventListener("click", makeProduct);

fileInput.addEventListener("change", () => fileInput.files[0] && process(fileInput.files[0]));
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (file) process(file);
});

refreshCredit();
