// Show a question only when its condition holds on the answers above it, as the server reads them
// (poll/conditions.py). Without this script every question is shown with its condition in words,
// and the server ignores answers to questions whose condition does not hold.
(function () {
  "use strict";
  var form = document.querySelector("form.poll");
  if (!form) { return; }
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var digits = { "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
                 "۰": "0", "۱": "1", "۲": "2", "۳": "3", "۴": "4", "۵": "5", "۶": "6", "۷": "7", "۸": "8", "۹": "9" };

  function answerOf(fieldset) {
    var inputs = Array.prototype.slice.call(fieldset.querySelectorAll("[name]"));
    var type = fieldset.dataset.type;
    var chosen = inputs.filter(function (input) {
      return (input.type !== "radio" && input.type !== "checkbox") || input.checked;
    }).map(function (input) { return input.value.trim(); }).filter(function (value) { return value !== ""; });
    if (type === "select_multiple") { return chosen.length ? chosen : null; }
    if (chosen.length !== 1) { return null; }
    if (type === "integer" && chosen[0] !== "-") {
      var number = chosen[0].replace(/[٠-٩۰-۹]/g, function (d) { return digits[d]; });
      return /^[0-9]+$/.test(number) ? parseInt(number, 10) : null;
    }
    return chosen[0];
  }

  function value(tree, answers) {
    if (tree[0] === "name") { return answers.hasOwnProperty(tree[1]) ? answers[tree[1]] : null; }
    return tree[1];
  }

  function same(left, right) {
    return left !== null && right !== null && String(left) === String(right);
  }

  function holds(tree, answers) {
    switch (tree[0]) {
      case "or": return holds(tree[1], answers) || holds(tree[2], answers);
      case "and": return holds(tree[1], answers) && holds(tree[2], answers);
      case "not": return !holds(tree[1], answers);
      case "answered": return value(tree[1], answers) !== null;
      case "==": return same(value(tree[1], answers), value(tree[2], answers));
      case "!=": return !same(value(tree[1], answers), value(tree[2], answers));
      case "in":
        var item = value(tree[1], answers);
        if (item === null) { return false; }
        var members = tree[2][0] === "list" ? tree[2][1].map(function (m) { return value(m, answers); })
                                            : value(tree[2], answers);
        if (members === null) { return false; }
        if (!Array.isArray(members)) { members = [members]; }
        return members.some(function (member) { return same(item, member); });
    }
    return true;
  }

  function update() {
    var answers = {};
    questions.forEach(function (fieldset) {
      var condition = fieldset.dataset.condition;
      var relevant = !condition || holds(JSON.parse(condition), answers);
      fieldset.hidden = !relevant;
      fieldset.disabled = !relevant;  // nothing of a hidden question is posted
      if (relevant) {
        var answer = answerOf(fieldset);
        if (answer !== null) { answers[fieldset.dataset.name] = answer; }
      }
    });
  }

  form.classList.add("branching");
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
})();
