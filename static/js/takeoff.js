/* Takeoff progressive enhancement: a slider beside the percent input, and forecast forms that
   submit without a page reload. Without JavaScript both forms still work as plain POSTs. */
(function () {
  "use strict";

  function wireSliders(root) {
    root.querySelectorAll("input[data-range-for]").forEach(function (range) {
      var number = document.getElementById(range.dataset.rangeFor);
      if (!number || range.dataset.wired) return;
      range.dataset.wired = "1";
      range.hidden = false;
      if (number.value) range.value = number.value;
      range.addEventListener("input", function () { number.value = range.value; });
      number.addEventListener("input", function () {
        var v = parseFloat(number.value.replace(",", "."));
        if (!isNaN(v)) range.value = Math.min(99.9, Math.max(0.1, v));
      });
    });
  }

  function announce(text, kind) {
    var box = document.getElementById("messages");
    if (!box) return;
    box.innerHTML = "";
    var p = document.createElement("p");
    p.className = "alert alert-" + (kind || "info");
    p.textContent = text;
    box.appendChild(p);
  }

  function swap(fragments) {
    var focusedId = document.activeElement && document.activeElement.id;
    Object.keys(fragments).forEach(function (name) {
      var el = document.getElementById("q-" + name);
      if (el) el.outerHTML = fragments[name];
    });
    wireSliders(document);
    var again = focusedId && document.getElementById(focusedId);
    (again || document.getElementById("panel-heading") || document.body).focus({ preventScroll: true });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-async]") || !window.fetch) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    var label = button && button.textContent;
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
    }
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") !== -1;
      if (!json) {
        throw new Error(response.status === 403
          ? "This form has expired (its security token is missing or stale). Reload the page and try again: nothing was saved."
          : "The server could not save your forecast (" + response.status + "). Please try again.");
      }
      return response.json().then(function (data) {
        if (data.ok) {
          swap(data.fragments || {});
          announce(data.message, "success");
          document.dispatchEvent(new CustomEvent("takeoff:forecast", { detail: data }));
        } else if (data.login_url) {
          window.location.assign(data.login_url);
        } else {
          announce(data.error || "Your forecast was not saved.", "error");
        }
      });
    }).catch(function (err) {
      announce(err.message || "Network error: your forecast was not saved.", "error");
    }).finally(function () {
      if (button && document.body.contains(button)) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        button.textContent = label;
      }
    });
  });

  /* Copy buttons: <button data-copy="ID" hidden> copies the text of the element #ID. Shown only
     when this script runs; the text stays selectable without it. */
  function wireCopyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.dataset.copy);
      if (!source || button.dataset.wired) return;
      button.dataset.wired = "1";
      button.hidden = false;
      var label = button.textContent;
      button.addEventListener("click", function () {
        var text = source.textContent;
        var done = function (ok) {
          button.textContent = ok ? "Copied" : "Press Ctrl+C to copy";
          setTimeout(function () { button.textContent = label; }, 2000);
        };
        var selectSource = function () {
          var range = document.createRange();
          range.selectNodeContents(source);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          var ok = false;
          try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
          done(ok);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, selectSource);
        } else {
          selectSource();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireSliders(document);
    wireCopyButtons(document);
  });
})();
