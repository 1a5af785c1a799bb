// The build log, live: lines arrive as server-sent events and are appended; the view follows the
// bottom unless the reader has scrolled up. Without JavaScript the page refreshes itself instead.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("log");
  if (!log || !log.dataset.stream) return;
  const state = document.getElementById("log-state");
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 8;
  const source = new EventSource(log.dataset.stream + "?after=" + (log.dataset.last || "0"));
  source.onmessage = (event) => {
    const follow = atBottom();
    const line = document.createElement("span");
    line.className = "line";
    line.dataset.n = event.lastEventId;
    line.textContent = event.data;
    log.append(line, "\n");
    if (follow) log.scrollTop = log.scrollHeight;
  };
  source.addEventListener("done", (event) => {
    source.close();
    if (state) state.textContent = "Finished: " + event.data + ".";
    const status = document.getElementById("status");
    if (status) status.textContent = event.data === "live" ? "LIVE" : event.data;
  });
});
