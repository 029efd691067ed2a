// Keyboard grading (grading/grade.html): p pass, f fail, a digit picks the score on the
// rubric's scale, n next, b back. Keys typed into the comment box stay text; Esc leaves it.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.key === "Escape" && target instanceof HTMLElement) {
    target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target instanceof HTMLTextAreaElement) return;
  if (target instanceof HTMLInputElement && target.type !== "radio") return;
  const click = (id) => {
    const element = document.getElementById(id);
    if (element) {
      event.preventDefault();
      element.click();
    }
  };
  const key = event.key.toLowerCase();
  if (key === "p") click("grade-pass");
  else if (key === "f") click("grade-fail");
  else if (key === "n") click("nav-next");
  else if (key === "b") click("nav-back");
  else if (/^[0-9]$/.test(key)) {
    const radio = document.querySelector(`input[name=score][data-key="${key}"]`);
    if (radio) {
      event.preventDefault();
      radio.checked = true;
    }
  }
});
// Keys pressed before this line ran were lost: say the shortcuts are live (tests wait for it).
document.documentElement.dataset.gradingKeys = "ready";
