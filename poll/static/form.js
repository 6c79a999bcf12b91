// Show a question only when its condition holds on the answers above it, as the server reads them
// (poll/conditions.py, which says how values compare: as ODK compares them in an XLSForm's XPath).
// Without this script every question is shown with its condition in words, and the server ignores
// answers to questions whose condition does not hold. Under Node the evaluator alone is exported,
// so that tests hold it to the same truth tables as the server's.
(function () {
  "use strict";
  var DECIMAL = /^\s*-?(\d+(\.\d*)?|\.\d+)\s*$/;

  // XPath's string(): "" for no answer, a multiple choice's codes joined by spaces.
  function text(value) {
    if (value === null || value === undefined) { return ""; }
    if (Array.isArray(value)) { return value.map(text).join(" "); }
    return String(value);
  }

  // XPath's number(): NaN for no answer and for anything not written as a decimal number.
  function number(value) {
    if (typeof value === "number") { return value; }
    var written = text(value);
    return DECIMAL.test(written) ? parseFloat(written) : NaN;
  }

  function codes(value) {
    if (Array.isArray(value)) { return value.map(text); }
    return text(value).split(/\s+/).filter(function (code) { return code !== ""; });
  }

  function value(tree, answers) {
    if (tree[0] === "name") { return Object.prototype.hasOwnProperty.call(answers, tree[1]) ? answers[tree[1]] : null; }
    if (tree[0] === "count") { return codes(value(["name", tree[1]], answers)).length; }
    return tree[1];
  }

  function isNumber(tree) {
    return tree[0] === "count" || (tree[0] === "value" && typeof tree[1] === "number");
  }

  function equal(left, right, answers) {
    if (isNumber(left) || isNumber(right)) {
      return number(value(left, answers)) === number(value(right, answers));  // NaN equals nothing
    }
    return text(value(left, answers)) === text(value(right, answers));
  }

  function holds(tree, answers) {
    var a, b;
    switch (tree[0]) {
      case "or": return holds(tree[1], answers) || holds(tree[2], answers);
      case "and": return holds(tree[1], answers) && holds(tree[2], answers);
      case "not": return !holds(tree[1], answers);
      case "answered": return text(value(tree[1], answers)) !== "";
      case "==": return equal(tree[1], tree[2], answers);
      case "!=": return !equal(tree[1], tree[2], answers);
      case "<": case "<=": case ">": case ">=":
        a = number(value(tree[1], answers));
        b = number(value(tree[2], answers));
        return tree[0] === "<" ? a < b : tree[0] === "<=" ? a <= b : tree[0] === ">" ? a > b : a >= b;
      case "in":
        if (tree[2][0] === "list") {
          return tree[2][1].some(function (option) { return equal(tree[1], option, answers); });
        }
        a = text(value(tree[1], answers));
        return a !== "" && codes(value(tree[2], answers)).indexOf(a) !== -1;
    }
    return true;
  }

  if (typeof module === "object" && module.exports) { module.exports = { holds: holds, text: text }; }
  if (typeof document === "undefined") { return; }

  var form = document.querySelector("form.poll");
  if (!form) { return; }
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var digits = { "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
                 "۰": "0", "۱": "1", "۲": "2", "۳": "3", "۴": "4", "۵": "5", "۶": "6", "۷": "7", "۸": "8", "۹": "9" };

  function chosenInputs(fieldset) {
    return Array.prototype.slice.call(fieldset.querySelectorAll("[name]")).filter(function (input) {
      return ((input.type !== "radio" && input.type !== "checkbox") || input.checked) && input.value.trim() !== "";
    });
  }

  function answerOf(fieldset) {
    var type = fieldset.dataset.type;
    var chosen = chosenInputs(fieldset).map(function (input) { return input.value.trim(); });
    if (type === "select_multiple") { return chosen.length ? chosen : null; }
    if (chosen.length !== 1) { return null; }
    if (type === "integer" && chosen[0] !== "-") {
      var written = chosen[0].replace(/[٠-٩۰-۹]/g, function (d) { return digits[d]; });
      return /^-?[0-9]+$/.test(written) ? parseInt(written, 10) : null;
    }
    return chosen[0];
  }

  // What a label shows for an answer piped into it (${name}): the chosen choices' words, or what was written.
  function shownAnswer(fieldset) {
    return chosenInputs(fieldset).map(function (input) {
      if (input.tagName === "SELECT") { return input.options[input.selectedIndex].text; }
      var label = input.closest("label");
      return label && (input.type === "radio" || input.type === "checkbox") ? label.textContent.trim() : input.value.trim();
    }).join(", ");
  }

  // The questions shown are numbered 1, 2, 3... whatever is hidden between them, and the progress line says
  // which one is next: "Question 2 of 5" (its wording comes from the page, in the page's language).
  var progress = form.querySelector(".progress");

  function renumber() {
    var visible = questions.filter(function (fieldset) { return !fieldset.hidden; });
    var next = 0;
    visible.forEach(function (fieldset, index) {
      var number = fieldset.querySelector(".number");
      if (number) { number.textContent = String(index + 1); }
      if (!next && answerOf(fieldset) === null) { next = index + 1; }
    });
    if (!progress) { return; }
    progress.textContent = next
      ? progress.dataset.next.replace("{current}", next).replace("{total}", visible.length)
      : progress.dataset.done.replace("{total}", visible.length);
  }

  function update() {
    var answers = {};
    var shown = {};
    questions.forEach(function (fieldset) {
      Array.prototype.forEach.call(fieldset.querySelectorAll("[data-pipe]"), function (pipe) {
        pipe.textContent = shown[pipe.dataset.pipe] || "";
      });
      var condition = fieldset.dataset.condition;
      var relevant = !condition || holds(JSON.parse(condition), answers);
      fieldset.hidden = !relevant;
      fieldset.disabled = !relevant;  // nothing of a hidden question is posted
      if (relevant) {
        var answer = answerOf(fieldset);
        if (answer !== null) {
          answers[fieldset.dataset.name] = answer;
          shown[fieldset.dataset.name] = shownAnswer(fieldset);
        }
      }
    });
    renumber();
  }

  form.classList.add("branching");
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
})();
