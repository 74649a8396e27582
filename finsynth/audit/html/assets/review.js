// Review controls: accept / reject / edit a row, then download the decisions as a JSONL patch for
// `finsynth build --apply-review PATCH` (no server: the file is built here, in the page).
// Every row with controls is an element [data-review-id][data-review-hash]; its analysis text is in
// its .review-analysis element. A decision carries the row id, the content hash it was made on, the
// reviewer and the time; the build refuses a decision whose row has changed since.
(function () {
  const rows = Array.from(document.querySelectorAll("[data-review-id]"));
  const bar = document.getElementById("review-bar");
  if (!rows.length || !bar) return;
  const reviewer = document.getElementById("reviewer");
  const count = document.getElementById("review-count");
  const download = document.getElementById("review-download");
  const decisions = new Map();  // row id -> decision (the last click on a row wins)
  function refresh() {
    count.textContent = String(decisions.size);
    download.disabled = decisions.size === 0;
  }
  function decide(row, decision, analysis) {
    const id = row.dataset.reviewId;
    const entry = {id: id, content_hash: row.dataset.reviewHash, decision: decision};
    if (decision === "edit") entry.analysis = analysis;
    decisions.set(id, entry);
    for (const r of document.querySelectorAll("[data-review-id]")) {
      if (r.dataset.reviewId === id) r.dataset.decision = decision;
    }
    refresh();
  }
  for (const row of rows) {
    const editor = row.querySelector(".review-editor");
    row.querySelector(".review-accept").addEventListener("click", () => decide(row, "accept"));
    row.querySelector(".review-reject").addEventListener("click", () => decide(row, "reject"));
    row.querySelector(".review-edit").addEventListener("click", () => {
      editor.hidden = false;
      if (!editor.value) editor.value = row.querySelector(".review-analysis").textContent.trim();
      editor.focus();
    });
    editor.addEventListener("change", () => decide(row, "edit", editor.value));
  }
  download.addEventListener("click", () => {
    const who = reviewer.value.trim();
    if (!who) {
      reviewer.focus();
      reviewer.setAttribute("aria-invalid", "true");
      return;
    }
    const time = new Date().toISOString();
    const lines = Array.from(decisions.values()).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((d) => JSON.stringify(Object.assign({}, d, {reviewer: who, time: time})));
    const text = lines.join("\n") + "\n";
    const link = document.createElement("a");
    link.href = "data:application/jsonl;charset=utf-8," + encodeURIComponent(text);
    link.download = "review.jsonl";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
  refresh();
})();
