// Findings browser: filter the findings table by rule, type, severity and text; show only the sample
// cards that a visible finding points at.
(function () {
  const rows = Array.from(document.querySelectorAll("#findings-table tbody tr[data-rule]"));
  const cards = Array.from(document.querySelectorAll(".card"));
  const controls = ["rule", "type", "severity"].map((name) => document.getElementById("filter-" + name));
  const search = document.getElementById("filter-text");
  const shown = document.getElementById("shown-count");
  if (!rows.length || !shown) return;
  function apply() {
    const [rule, type, severity] = controls.map((c) => c.value);
    const text = search.value.trim().toLowerCase();
    const keys = new Set();
    let visible = 0;
    for (const row of rows) {
      const ok = (!rule || row.dataset.rule === rule) && (!type || row.dataset.type === type) &&
        (!severity || row.dataset.severity === severity) && (!text || row.textContent.toLowerCase().includes(text));
      row.hidden = !ok;
      if (ok) {
        visible += 1;
        if (row.dataset.sample) keys.add(row.dataset.sample);
      }
    }
    for (const card of cards) card.hidden = !keys.has(card.dataset.key);
    shown.textContent = String(visible);
  }
  for (const control of controls) control.addEventListener("change", apply);
  // a rule's count in the rules table opens the browser filtered to that rule
  for (const link of document.querySelectorAll("a.filter-link")) {
    link.addEventListener("click", () => {
      controls[0].value = link.dataset.rule;
      apply();
    });
  }
  search.addEventListener("input", apply);
  apply();
})();
