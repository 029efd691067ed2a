// Curation pages: "select all" for the bulk-action checkboxes. Delegated, so it keeps working
// after htmx swaps the table.
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.matches || !box.matches("input.select-all")) return;
  var form = box.closest("form");
  form.querySelectorAll("input[name=ids]").forEach(function (row) { row.checked = box.checked; });
});
