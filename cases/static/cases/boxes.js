// Boxes drawn over an image whose size the case does not state (cases/_boxes.html, data-fit):
// once the image loads, the drawing takes the image's own pixel size, so the boxes, given in
// the image's pixel coordinates, land where they belong. Stroke and labels keep their sizes.
document.querySelectorAll("svg.boxes-canvas[data-fit]").forEach(function (svg) {
  var image = svg.querySelector("image");
  var probe = new Image();
  probe.onload = function () {
    var width = probe.naturalWidth, height = probe.naturalHeight;
    if (!width || !height) return;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    image.setAttribute("width", width);
    image.setAttribute("height", height);
    svg.removeAttribute("data-fit");
    svg.setAttribute("data-fitted", width + "x" + height);
  };
  probe.src = image.getAttribute("href");
});
