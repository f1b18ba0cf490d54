// Interaction of cgotrace flame graphs: hover details, click to zoom, search.
// Frames are <g class="f"> with data-n (name), data-x / data-w (offset and
// width in weight units) and data-d (depth); the root <svg> carries the
// layout constants. Plain ES5 so that old viewers run it too.
#include "report/flamegraph_script.h"

namespace cgotrace {

const char kFlameGraphScript[] = R"JS(
"use strict";
var svg, frames, details, matchedtxt, unzoombtn, total, width, xpad, fontsize, fontwidth;
var zoomed = null, searching = null;

function num(el, name) { return parseFloat(el.getAttribute(name)); }

function init() {
  svg = document.documentElement;
  frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
  details = document.getElementById("details").firstChild;
  matchedtxt = document.getElementById("matched");
  unzoombtn = document.getElementById("unzoom");
  total = num(svg, "data-total");
  width = num(svg, "data-width");
  xpad = num(svg, "data-xpad");
  fontsize = num(svg, "data-fontsize");
  fontwidth = num(svg, "data-fontwidth");
  frames.forEach(function (g) {
    g.addEventListener("mouseover", function () { details.nodeValue = describe(g); });
    g.addEventListener("mouseout", function () { details.nodeValue = " "; });
    g.addEventListener("click", function () { zoom(g); });
  });
  unzoombtn.addEventListener("click", unzoom);
  document.getElementById("search").addEventListener("click", function () {
    if (searching === null) { askSearch(); } else { resetSearch(); }
  });
  window.addEventListener("keydown", function (e) {
    if (e.keyCode === 114 || (e.ctrlKey && e.keyCode === 70)) { e.preventDefault(); askSearch(); }
    if (e.key === "Escape") { resetSearch(); }
  });
  layout(0, total, 0);
  var params = new URLSearchParams(window.location.search);
  if (params.get("s")) { search(params.get("s")); }
  svg.setAttribute("data-frames", String(frames.length));
  svg.setAttribute("data-cgotrace-ready", "1");
}

function describe(g) {
  return g.getElementsByTagName("title")[0].textContent;
}

function fit(g, px) {
  var text = g.getElementsByTagName("text")[0];
  var name = g.getAttribute("data-n");
  var chars = Math.floor(px / (fontsize * fontwidth));
  if (chars < 3) { text.textContent = ""; return; }
  text.textContent = name.length > chars ? name.substring(0, chars - 2) + ".." : name;
}

// Shows the frames inside [x0, x0 + w0) at full width; frames below depth d0
// that contain the range stay visible, faded, as the path to it.
function layout(x0, w0, d0) {
  var scale = (width - 2 * xpad) / w0;
  frames.forEach(function (g) {
    var x = num(g, "data-x"), w = num(g, "data-w"), d = num(g, "data-d");
    var rect = g.getElementsByTagName("rect")[0];
    var text = g.getElementsByTagName("text")[0];
    var inside = x >= x0 && x + w <= x0 + w0 && d >= d0;
    var parent = d < d0 && x <= x0 && x + w >= x0 + w0;
    if (!inside && !parent) { g.style.display = "none"; return; }
    g.style.display = "";
    g.style.opacity = parent ? "0.5" : "";
    var px = parent ? width - 2 * xpad : w * scale;
    var left = parent ? xpad : xpad + (x - x0) * scale;
    rect.setAttribute("x", left.toFixed(2));
    rect.setAttribute("width", px.toFixed(2));
    text.setAttribute("x", (left + 3).toFixed(2));
    fit(g, px);
  });
}

function zoom(g) {
  zoomed = g;
  layout(num(g, "data-x"), num(g, "data-w"), num(g, "data-d"));
  unzoombtn.style.opacity = "1";
  svg.setAttribute("data-zoomed", g.getAttribute("data-n"));
}

function unzoom() {
  zoomed = null;
  layout(0, total, 0);
  unzoombtn.style.opacity = "0";
  svg.removeAttribute("data-zoomed");
}

function askSearch() {
  var term = window.prompt("Search (regular expression)", searching || "");
  if (term) { search(term); }
}

function resetSearch() {
  searching = null;
  frames.forEach(function (g) {
    var rect = g.getElementsByTagName("rect")[0];
    if (g.hasAttribute("data-fill")) { rect.setAttribute("fill", g.getAttribute("data-fill")); }
  });
  matchedtxt.textContent = " ";
  svg.removeAttribute("data-matched");
}

// Highlights matching frames; the matched share is the union of their
// ranges, so a name matching at several depths of one stack counts once.
function search(term) {
  var re;
  try { re = new RegExp(term); } catch (e) { matchedtxt.textContent = "bad regex"; return; }
  resetSearch();
  searching = term;
  var ranges = [];
  frames.forEach(function (g) {
    if (!re.test(g.getAttribute("data-n"))) { return; }
    var rect = g.getElementsByTagName("rect")[0];
    g.setAttribute("data-fill", rect.getAttribute("fill"));
    rect.setAttribute("fill", "rgb(230,0,230)");
    ranges.push([num(g, "data-x"), num(g, "data-x") + num(g, "data-w")]);
  });
  ranges.sort(function (a, b) { return a[0] - b[0]; });
  var matched = 0, end = -1;
  ranges.forEach(function (r) {
    if (r[0] >= end) { matched += r[1] - r[0]; end = r[1]; }
    else if (r[1] > end) { matched += r[1] - end; end = r[1]; }
  });
  var pct = total > 0 ? (100 * matched / total).toFixed(2) : "0.00";
  matchedtxt.textContent = "Matched: " + pct + "%";
  svg.setAttribute("data-matched", pct);
}
)JS";

}  // namespace cgotrace
