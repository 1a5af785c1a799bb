// The upload with a real progress bar (XMLHttpRequest.upload.onprogress; fetch has none). A
// refused upload's table replaces the result area and the chosen file stays selected. Without
// JavaScript the form posts as it is.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("progress");
  const text = document.getElementById("progress-text");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
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
      document.getElementById("upload-result").replaceChildren(...(result ? result.childNodes : []));
      bar.hidden = true;
      text.textContent = "";
    };
    request.onerror = () => { text.textContent = "The upload did not reach Wharf: try again."; };
    request.send(new FormData(form));
  });
});
