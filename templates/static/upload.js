// The upload with a real progress bar (XMLHttpRequest.upload.onprogress; fetch has none), from a
// ZIP or a folder, picked or dropped. A folder goes as one multipart `file` field a file, named
// by its path in the folder; the server zips them and checks them as it checks a ZIP. A refused
// upload's table replaces the result area and the selection stays. Without JavaScript the form
// posts the ZIP as it is.
"use strict";

// Every file under a dropped directory entry, as [path, File] pairs.
async function filesOf(entry) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [[entry.fullPath.replace(/^\//, ""), file]];
  }
  const reader = entry.createReader();
  const found = [];
  for (;;) {  // readEntries answers in batches until it answers none
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return found;
    for (const child of batch) found.push(...(await filesOf(child)));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const archive = document.getElementById("archive");
  const folderInput = document.getElementById("folder");
  const drop = document.getElementById("drop");
  const chosen = document.getElementById("chosen");
  const bar = document.getElementById("progress");
  const text = document.getElementById("progress-text");
  let folder = null;  // [path, File] pairs when a folder is chosen instead of a ZIP

  document.getElementById("folder-choice").hidden = false;
  const useFolder = (files) => {
    folder = files;
    archive.value = "";
    archive.required = false;
    const top = files.length ? files[0][0].split("/")[0] : "";
    chosen.textContent = files.length + " files from the folder " + top + "/ are ready to upload.";
  };
  const useZip = () => {
    folder = null;
    folderInput.value = "";
    archive.required = true;
    chosen.textContent = "";
  };
  archive.addEventListener("change", useZip);
  folderInput.addEventListener("change", () => {
    useFolder([...folderInput.files].map((file) => [file.webkitRelativePath || file.name, file]));
  });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry()).filter(Boolean);
    if (entries.length === 1 && entries[0].isFile && /\.zip$/i.test(entries[0].name)) {
      const files = new DataTransfer();
      files.items.add(event.dataTransfer.files[0]);
      archive.files = files.files;
      useZip();
      return;
    }
    const found = [];
    for (const entry of entries) found.push(...(await filesOf(entry)));
    useFolder(found);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let body = new FormData(form);
    if (folder) {
      body = new FormData();
      body.append("environment", form.elements.environment.value);
      body.append("message", form.elements.message.value);
      for (const [path, file] of folder) body.append("file", file, path);
    }
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    bar.hidden = false;
    request.upload.onprogress = (progress) => {
      if (!progress.lengthComputable) return;
      const percent = Math.round((progress.loaded / progress.total) * 100);
      bar.value = percent;
      text.textContent = "Uploaded " + percent + "%";
    };
    request.onload = () => {
      if (request.status < 400) {
        window.location.assign(request.responseURL);
        return;
      }
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      const result = page.getElementById("upload-result");
      const shown = document.getElementById("upload-result");
      if (result) {
        shown.replaceChildren(...result.childNodes);
      } else {  // not the upload page: a proxy's page, or a refusal before the form was read
        const alert = document.createElement("p");
        alert.className = "notice bad";
        alert.setAttribute("role", "alert");
        alert.textContent = "The upload failed (HTTP " + request.status + "): " +
          (page.body ? page.body.textContent.trim().slice(0, 200) : "no answer") + ".";
        shown.replaceChildren(alert);
      }
      bar.hidden = true;
      text.textContent = "";
    };
    request.onerror = () => { text.textContent = "The upload did not reach Wharf: try again."; };
    request.send(body);
  });
});
