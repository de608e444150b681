// Copy buttons for the admin console. Served from our own origin (the Content Security
// Policy allows only 'self' scripts); without JavaScript the buttons stay hidden and the
// values remain selectable text.
"use strict";

(function () {
  function announce(message) {
    var status = document.getElementById("copy-status");
    if (status) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = message; }, 50);
    }
  }

  function copyByCommand(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    selection.removeAllRanges();
    return copied;
  }

  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    var text = target.textContent.trim();
    var label = button.getAttribute("data-label") || "value";
    var done = function () {
      button.textContent = "Copied";
      announce("Copied " + label + " to the clipboard.");
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    var failed = function () {
      announce("Could not copy. Select the text and copy it by hand.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {
        if (copyByCommand(target)) { done(); } else { failed(); }
      });
    } else if (copyByCommand(target)) {
      done();
    } else {
      failed();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // A confirmation page starts on its safe choice, whatever the browser does with autofocus.
    var safe = document.querySelector("[autofocus]");
    if (safe && document.activeElement !== safe) {
      safe.focus();
    }
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
  });
})();
