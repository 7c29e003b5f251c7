// The course's own script, on every page of the book (Jupyter Book adds every file of _static).
//
// 1. Interactive figures: tools/static_widgets.py draws each figure as HTML with native
//    controls and its first state; the other states are small script files
//    (_static/pc-states/<page>/<figure>/<key>.js, each calling pcStates.add). A state is
//    loaded when a control asks for it, and the states one move away as soon as a reader
//    reaches for the controls (pointer or keyboard focus), so a page weighs little until a
//    reader plays with a figure.
// 2. Boxes that scroll sideways (a wide equation, code, a table) can be reached and scrolled
//    by keyboard: each gets tabindex="0" and a name while it overflows.
(function () {
  "use strict";

  var loaded = {};   // figure id -> key -> HTML
  var waiting = {};  // "figure|key" -> [callbacks]

  window.pcStates = {
    add: function (figure, key, html) {
      (loaded[figure] = loaded[figure] || {})[key] = html;
      var id = figure + "|" + key;
      (waiting[id] || []).forEach(function (done) { done(html); });
      delete waiting[id];
    },
  };

  function load(figure, key, done) {
    var id = figure.id + "|" + key;
    if (loaded[figure.id] && key in loaded[figure.id]) {
      if (done) done(loaded[figure.id][key]);
      return;
    }
    var first = !waiting[id];
    (waiting[id] = waiting[id] || []).push(done || function () {});
    if (!first) return;
    var script = document.createElement("script");
    script.src = figure.dataset.states + key + ".js";
    script.onerror = function () {
      delete waiting[id];
      figure.querySelector(".pc-display").setAttribute("aria-busy", "false");
      console.error("pooling course: could not load " + script.src);
    };
    document.head.appendChild(script);
  }

  function controls(figure) {
    return Array.prototype.slice.call(figure.querySelectorAll(".pc-controls .pc-control"));
  }

  function indexOf(control) {
    var range = control.querySelector("input[type=range]");
    if (range) return Number(range.value);
    var checked = control.querySelector("input[type=radio]:checked");
    return checked ? Number(checked.value) : 0;
  }

  function keyOf(indices) { return indices.join("-"); }

  function neighbours(figure) {
    var shape = JSON.parse(figure.dataset.shape);
    var now = controls(figure).map(indexOf);
    var keys = [];
    now.forEach(function (value, axis) {
      [value - 1, value + 1].forEach(function (next) {
        if (next < 0 || next >= shape[axis]) return;
        var other = now.slice();
        other[axis] = next;
        keys.push(keyOf(other));
      });
    });
    return keys;
  }

  function show(figure) {
    var display = figure.querySelector(".pc-display");
    var key = keyOf(controls(figure).map(indexOf));
    display.setAttribute("aria-busy", "true");
    load(figure, key, function (html) {
      if (keyOf(controls(figure).map(indexOf)) !== key) return;  // a later move wins
      display.innerHTML = html;
      display.setAttribute("aria-busy", "false");
      markScrollable(display);
      if (figure.dataset.seen) neighbours(figure).forEach(function (k) { load(figure, k); });
    });
  }

  function setUpFigure(figure) {
    var start = keyOf(controls(figure).map(indexOf));
    var display = figure.querySelector(".pc-display");
    (loaded[figure.id] = loaded[figure.id] || {})[start] = display.innerHTML;
    controls(figure).forEach(function (control) {
      var range = control.querySelector("input[type=range]");
      if (range) {
        var labels = JSON.parse(range.dataset.labels);
        var readout = control.querySelector("output");
        range.addEventListener("input", function () {
          var label = labels[Number(range.value)];
          range.setAttribute("aria-valuetext", label);
          if (readout) readout.textContent = label;
          show(figure);
        });
      } else {
        control.addEventListener("change", function () { show(figure); });
      }
    });
    // A reader reaching for the controls (pointer over them, or keyboard focus in them)
    // will move one: load the states one move away, so the move shows at once.
    var panel = figure.querySelector(".pc-controls");
    function reach() {
      if (figure.dataset.seen) return;
      figure.dataset.seen = "1";
      neighbours(figure).forEach(function (k) { load(figure, k); });
    }
    panel.addEventListener("pointerenter", reach);
    panel.addEventListener("focusin", reach);
  }

  // -- boxes that scroll sideways -------------------------------------------------------
  var SCROLLERS = "mjx-container[display='true'], div.highlight pre, .pst-scrollable-table-container, " +
    ".table-wrapper, div.cell_output pre, .pc-display, dl.py dt";

  function markScrollable(root) {
    (root || document).querySelectorAll(SCROLLERS).forEach(function (box) {
      var overflows = box.scrollWidth > box.clientWidth + 1;
      if (overflows && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.dataset.pcScroll = "1";
        if (!box.hasAttribute("aria-label") && box.matches("mjx-container")) {
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", "equation, scrolls sideways");
        } else if (!box.hasAttribute("aria-label") && !box.matches("pre, dt")) {
          // (A signature's <dt> stays a term: a region may not be a child of a <dl>.)
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", "scrolls sideways");
        }
      } else if (!overflows && box.dataset.pcScroll) {
        box.removeAttribute("tabindex");
        delete box.dataset.pcScroll;
      }
      box.classList.toggle("pc-overflows", overflows);
    });
  }

  // -- names that match what is shown (axe: label-content-name-mismatch, aria roles) ----
  function mendNames() {
    // A folded cell's toggle is named by its visible text ("Show code cell source").
    document.querySelectorAll("summary[aria-label='Toggle hidden content']").forEach(
      function (s) { s.removeAttribute("aria-label"); });
    // Icons are decoration: the buttons holding them have names; an icon's title would
    // become part of the button's text (and a tooltip that says "null" or repeats it).
    document.querySelectorAll("i[class*='fa-'], span[class*='fa-']").forEach(function (i) {
      i.setAttribute("aria-hidden", "true");
      i.removeAttribute("title");
    });
    // The bibliography is a list of entries (doc-biblioentry), not of list items.
    document.querySelectorAll(".citation-list[role='list']").forEach(function (l) {
      l.removeAttribute("role");
    });
  }

  function ready() {
    mendNames();
    document.querySelectorAll(".pc-explorer.pc-static").forEach(setUpFigure);
    markScrollable();
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(function () { markScrollable(); });
    }
    var timer;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { markScrollable(); }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
