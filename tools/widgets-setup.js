// Loaded before @jupyter-widgets/html-manager on pages with widgets (see tools/offline_book.py).
(function () {
  "use strict";
  // The manager loads FontAwesome's fonts from beside the AMD modules it defines, whose URLs
  // require.js derives from the page; point them at the copies beside embed-amd.js.
  var base = new URL("../npm/html-manager/", document.currentScript.src).href;
  var dir = base.replace(/\/$/, "");
  window.__jupyter_widgets_assets_path__ = base;
  window.require = {  // require.js reads a plain object named require as its configuration
    paths: {
      "@jupyter-widgets/html-manager/dist": dir,
      "@jupyter-widgets/html-manager": dir + "/html-manager",
      "@jupyter-widgets/base": dir + "/base",
      "@jupyter-widgets/base7": dir + "/base7",
      "@jupyter-widgets/controls": dir + "/controls",
      "@jupyter-widgets/controls7": dir + "/controls7",
    },
  };

  // ipywidgets typesets labels with MathJax 2's MathJax.Hub.Queue; the book runs MathJax 3.
  // Give every object assigned to window.MathJax a Hub whose Queue typesets with MathJax 3.
  function addHub(mathjax) {
    if (!mathjax || typeof mathjax !== "object" || mathjax.Hub) return;
    mathjax.Hub = {
      Queue: function () {
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          var mj = window.MathJax;
          if (Array.isArray(job) && job[0] === "Typeset" && mj && mj.typesetPromise) {
            mj.typesetPromise([job[2]]).catch(function (err) { console.warn(err); });
          }
        }
      },
    };
  }
  var current = window.MathJax;
  addHub(current);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = value; addHub(value); },
  });
})();
