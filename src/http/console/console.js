// The rule-file editor's live check and YAML highlighting (the console's only
// script). Progressive: without it the textarea and its buttons work as a form.
// Everything from the file or the server is put in the page as text, never as HTML.
(function () {
  'use strict';
  var editor = document.getElementById('editor');
  var area = document.getElementById('file-text');
  var pre = document.getElementById('highlight');
  var status = document.getElementById('check-status');
  var list = document.getElementById('problems');
  if (!editor || !area || !pre || !status || !list || !window.fetch) { return; }
  var csrf = editor.getAttribute('data-csrf') || '';
  var file = editor.getAttribute('data-file') || '';
  var base = editor.getAttribute('data-base') || '';
  var badLines = {};
  var timer = null;
  var asked = 0;
  editor.classList.add('enhanced');

  function span(cls, text) {
    var s = document.createElement('span');
    if (cls) { s.className = cls; }
    s.textContent = text;
    return s;
  }

  // One line of YAML as spans: comment, key, string, number, the rest.
  function lineNodes(line) {
    var out = [];
    var hash = -1;
    var quote = null;
    for (var i = 0; i < line.length; i++) {
      var ch = line.charAt(i);
      if (quote) { if (ch === quote) { quote = null; } continue; }
      if (ch === '"' || ch === "'") { quote = ch; continue; }
      if (ch === '#' && (i === 0 || /\s/.test(line.charAt(i - 1)))) { hash = i; break; }
    }
    var code = hash >= 0 ? line.slice(0, hash) : line;
    var key = /^(\s*(?:-\s+)?)([^\s:#"'][^:#]*?)(:)(\s|$)/.exec(code);
    var rest = code;
    if (key) {
      out.push(span('', key[1]));
      out.push(span('y-key', key[2]));
      out.push(span('', key[3]));
      rest = code.slice(key[1].length + key[2].length + 1);
    }
    var re = /("(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?|-?\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b)/g;
    var last = 0;
    var m;
    while ((m = re.exec(rest)) !== null) {
      out.push(span('', rest.slice(last, m.index)));
      out.push(span(/^["']/.test(m[0]) ? 'y-str' : 'y-num', m[0]));
      last = m.index + m[0].length;
    }
    out.push(span('', rest.slice(last)));
    if (hash >= 0) { out.push(span('y-comment', line.slice(hash))); }
    return out;
  }

  function highlight() {
    var lines = area.value.split('\n');
    var frag = document.createDocumentFragment();
    for (var i = 0; i < lines.length; i++) {
      var row = document.createElement('span');
      row.className = badLines[i + 1] ? 'y-line y-bad' : 'y-line';
      var nodes = lineNodes(lines[i]);
      for (var j = 0; j < nodes.length; j++) { row.appendChild(nodes[j]); }
      row.appendChild(document.createTextNode('\n'));
      frag.appendChild(row);
    }
    pre.textContent = '';
    pre.appendChild(frag);
    sync();
  }

  function sync() {
    pre.scrollTop = area.scrollTop;
    pre.scrollLeft = area.scrollLeft;
  }

  // Move the caret to line `line`, column `col` (1-based) and focus the text.
  function goTo(line, col) {
    var lines = area.value.split('\n');
    var at = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { at += lines[i].length + 1; }
    at += Math.max(0, Math.min(col - 1, (lines[line - 1] || '').length));
    area.focus();
    area.setSelectionRange(at, at);
  }

  function show(answer) {
    var problems = (answer && Array.isArray(answer.problems)) ? answer.problems : [];
    var failures = (answer && Array.isArray(answer.test_failures)) ? answer.test_failures : [];
    badLines = {};
    list.textContent = '';
    problems.forEach(function (p) {
      var line = Number(p.line) || 0;
      var col = Number(p.column) || 1;
      if (p.file === file && line > 0) { badLines[line] = true; }
      var li = document.createElement('li');
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'problem ' + (p.severity === 'error' ? 'is-error' : 'is-warning');
      b.textContent = (p.file === file ? '' : String(p.file) + ' ') + line + ':' + col + ' ' +
        String(p.message || '') + (p.hint ? ' (' + String(p.hint) + ')' : '');
      if (p.file === file && line > 0) {
        b.addEventListener('click', function () { goTo(line, col); });
      }
      li.appendChild(b);
      list.appendChild(li);
    });
    failures.forEach(function (f) {
      var li = document.createElement('li');
      li.textContent = 'Rule test: ' + String(f);
      list.appendChild(li);
    });
    var n = problems.filter(function (p) { return p.severity === 'error'; }).length;
    if (n === 0 && failures.length === 0) {
      status.textContent = answer && answer.loads ?
        'No problems; ' + Number(answer.tests_passed || 0) + ' rule tests pass.' : 'No problems.';
    } else {
      status.textContent = (n ? n + (n === 1 ? ' problem' : ' problems') : 'No problems') +
        (failures.length ? '; ' + failures.length + ' rule test(s) fail' : '') + '.';
    }
    highlight();
  }

  function check() {
    var mine = ++asked;
    status.textContent = 'Checking…';
    fetch('/rules/check.json', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ base_version: base, file: file, text: area.value })
    }).then(function (r) {
      if (!r.ok) { throw new Error('status ' + r.status); }
      return r.json();
    }).then(function (answer) {
      if (mine === asked) { show(answer); }
    }).catch(function () {
      if (mine === asked) { status.textContent = 'The check could not be run; use "Check and run tests".'; }
    });
  }

  area.addEventListener('input', function () {
    highlight();
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(check, 400);
  });
  area.addEventListener('scroll', sync);
  highlight();
}());
