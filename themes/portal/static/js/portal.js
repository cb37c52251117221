/* The portal's one script: the complaint form, the case lookup and the vote.
 * The forms work without it (plain posts, answered with a page by the API); the script
 * only improves them. It talks JSON to the API named in <meta name="api-base"> and puts
 * every piece of data into the page with textContent / createElement, never parsed as
 * markup. Plain ES5 plus fetch and Promise, so that old phone browsers can run it.
 *
 * A slow answer is never reported as a failure: a request that times out is sent again
 * with the same Idempotency-Key (the API answers a retry with the first answer), and only
 * when no answer comes at all does the page say it could not confirm, and what to do. */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="api-base"]');
  var API = ((meta && meta.getAttribute("content")) || "/api").replace(/\/+$/, "");
  var RETRY_DELAYS_MS = [1000, 2000, 4000]; // up to 3 retries of one submission
  // One attempt's patience; a page may lower it before this script runs (the tests do).
  var TIMEOUT_MS = window.gridportalTimeoutMs || 20000;

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(node, text) {
    if (text !== undefined) node.textContent = text;
    node.hidden = false;
  }

  function hide(node) {
    node.hidden = true;
  }

  // "2024-05-03T14:20:00+08:00" -> "2024-05-03 14:20"; times are published in Beijing time.
  function when(iso) {
    if (!iso) return "—";
    var s = String(iso);
    return s.length >= 16 ? s.slice(0, 10) + " " + s.slice(11, 16) : s;
  }

  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    var hex = "";
    for (var j = 0; j < 16; j++) {
      hex += (bytes[j] + 0x100).toString(16).slice(1);
      if (j === 3 || j === 5 || j === 7 || j === 9) hex += "-";
    }
    return hex;
  }

  function queryParam(name) {
    var pairs = window.location.search.replace(/^\?/, "").split("&");
    for (var i = 0; i < pairs.length; i++) {
      var kv = pairs[i].split("=");
      if (decodeURIComponent(kv[0]) === name && kv.length > 1) {
        return decodeURIComponent(kv[1].replace(/\+/g, " "));
      }
    }
    return null;
  }

  // "#t=<tracking>&c=<lookup code>&k=<vote code>": fragments never reach a server.
  function fragmentParams() {
    var out = {};
    var parts = window.location.hash.replace(/^#/, "").split("&");
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].split("=");
      if (kv.length === 2) {
        try {
          out[kv[0]] = decodeURIComponent(kv[1]);
        } catch (e) {
          /* ignore a malformed fragment */
        }
      }
    }
    return out;
  }

  function fragmentLink(path, codes) {
    var parts = [];
    for (var key in codes) {
      if (codes[key]) parts.push(key + "=" + encodeURIComponent(codes[key]));
    }
    return path + (parts.length ? "#" + parts.join("&") : "");
  }

  // Once read, the codes leave the address bar (and the screen a neighbour may see).
  function forgetFragment() {
    if (window.location.hash && window.history && history.replaceState) {
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  // A locked lookup: the API's sentence (until when, Beijing time) and the number to call.
  function showError(box, err, fallback, form) {
    clear(box);
    box.appendChild(document.createTextNode((form ? labelled(form, err) : err.message) || fallback));
    if (err.hotline) {
      box.appendChild(document.createTextNode(" "));
      var call = el("a", "拨打 " + err.hotline);
      call.href = "tel:" + err.hotline;
      box.appendChild(call);
    }
    box.hidden = false;
  }

  function postJSON(path, body, headers) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller
      ? setTimeout(function () {
          controller.abort();
        }, TIMEOUT_MS)
      : null;
    var h = { "Content-Type": "application/json", Accept: "application/json" };
    for (var key in headers || {}) h[key] = headers[key];
    return fetch(API + path, {
      method: "POST",
      headers: h,
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined,
    }).then(
      function (res) {
        if (timer) clearTimeout(timer);
        return res.json().then(
          function (data) {
            return { status: res.status, data: data };
          },
          function () {
            return { status: res.status, data: null };
          }
        );
      },
      function (err) {
        if (timer) clearTimeout(timer);
        throw err;
      }
    );
  }

  // Retries network errors, time-outs and 5xx with backoff; the caller's headers (and so
  // the Idempotency-Key) stay the same on every attempt, so a retry never files twice.
  function sendWithRetry(path, body, headers, onRetry) {
    var attempt = 0;
    function retry() {
      var delay = RETRY_DELAYS_MS[attempt];
      attempt += 1;
      if (onRetry) onRetry(attempt);
      return new Promise(function (resolve) {
        setTimeout(resolve, delay);
      }).then(tryOnce);
    }
    function tryOnce() {
      return postJSON(path, body, headers).then(
        function (res) {
          if (res.status >= 500 && attempt < RETRY_DELAYS_MS.length) return retry();
          return res;
        },
        function (err) {
          if (attempt < RETRY_DELAYS_MS.length) return retry();
          throw err;
        }
      );
    }
    return tryOnce();
  }

  function apiError(data) {
    return (data && data.error) || {};
  }

  // The API's message, led by the label of the field it names ("受理编号：含有不允许的字符。"),
  // as the page the API answers without the script says it: the label's own words, not
  // the note beside them ("意见", not "意见 选填").
  function labelled(form, err) {
    var input = err.field && form.elements[err.field];
    var label = input && input.labels && input.labels[0];
    var words = label && label.firstChild && label.firstChild.nodeType === 3 ? label.firstChild.nodeValue.trim() : "";
    // Radios (a RadioNodeList) have no label of their own: their fieldset names the field.
    var group = !words && input && input[0] && input[0].closest ? input[0].closest("fieldset[data-label]") : null;
    if (group) words = group.getAttribute("data-label");
    return words && err.message ? words + "：" + err.message : err.message;
  }

  function bindCounters(form) {
    var fields = form.querySelectorAll("[data-counter]");
    for (var i = 0; i < fields.length; i++) {
      (function (field) {
        var counter = $(field.getAttribute("data-counter"));
        var max = field.getAttribute("maxlength");
        function update() {
          counter.textContent = field.value.length + "/" + max;
        }
        field.addEventListener("input", update);
        update();
      })(fields[i]);
    }
  }

  function addFact(list, term, value) {
    list.appendChild(el("dt", term));
    list.appendChild(el("dd", value));
  }

  function deadlineFacts(list, d, note) {
    if (d) {
      var contact = d.contact_met === true ? "（按时联系）" : d.contact_met === false ? "（未按时联系）" : "";
      addFact(list, "联系时限", when(d.contact_due) + contact);
      addFact(list, "办结时限", when(d.due) + (d.extended ? "（已延期）" : ""));
      if (d.extended) addFact(list, "原定办结时限", when(d.original_due));
      if (d.met === true) addFact(list, "是否按期", "按期办结");
      else if (d.met === false) addFact(list, "是否按期", "超期 " + d.overdue_working_days + " 个工作日");
      else addFact(list, "是否按期", "办理中，尚未到期");
    }
    if (note) addFact(list, "时限说明", note);
  }

  /* ---- 我要投诉 ---- */
  function initReport(form) {
    var submit = $("report-submit");
    var statusLine = $("report-status");
    var formError = $("report-error");
    var busy = false;
    // One key per submission: made on the first attempt, kept for every retry and for a
    // manual resend of the same content, dropped once the content changes or an answer comes.
    var pendingKey = null;
    var required = {
      category: "请选择问题类别。",
      grid: "请选择所在网格。",
      location: "请填写具体位置。",
      description: "请描述问题。",
    };

    form.noValidate = true; // the script says what is missing, in the page's words
    var gridSelect = form.elements.grid;
    var wanted = queryParam("grid");
    if (wanted && !gridSelect.value) {
      for (var i = 0; i < gridSelect.options.length; i++) {
        if (gridSelect.options[i].value === wanted) {
          gridSelect.value = wanted;
          $("grid-preselected-name").textContent = gridSelect.options[i].textContent;
          show($("grid-preselected"));
        }
      }
      gridSelect.addEventListener("change", function () {
        hide($("grid-preselected")); // the note names the scanned grid, not a new choice
      });
    }
    bindCounters(form);

    function fieldError(name, message, keepFocus) {
      var box = $("error-" + name);
      var input = form.elements[name];
      if (!box || !input) return false;
      show(box, message);
      input.setAttribute("aria-invalid", "true");
      if (!keepFocus) input.focus();
      return true;
    }

    function clearErrors() {
      var boxes = form.querySelectorAll(".field-error");
      for (var i = 0; i < boxes.length; i++) hide(boxes[i]);
      var invalid = form.querySelectorAll('[aria-invalid="true"]');
      for (var j = 0; j < invalid.length; j++) invalid[j].removeAttribute("aria-invalid");
      hide(formError);
    }

    function showReceipt(data) {
      $("receipt-tracking").textContent = data.tracking || "";
      $("receipt-code").textContent = data.lookup_code || "";
      $("receipt-token").textContent = data.vote_token || "";
      var facts = $("receipt-deadlines");
      clear(facts);
      addFact(facts, "状态", data.status_label || "已受理");
      addFact(facts, "受理时间", when(data.received_at));
      deadlineFacts(facts, data.deadlines, "");
      // One link for later: the lookup with the codes filled in, and from there the vote.
      $("receipt-lookup").href = fragmentLink("/lookup/", {
        t: data.tracking,
        c: data.lookup_code,
        k: data.vote_token,
      });
      hide(form);
      var receipt = $("receipt");
      show(receipt);
      receipt.focus();
    }

    form.addEventListener("input", function (event) {
      if (!busy) pendingKey = null;
      var box = event.target.name && $("error-" + event.target.name);
      if (box) hide(box);
      event.target.removeAttribute("aria-invalid");
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) return;
      clearErrors();
      var body = {};
      var names = ["category", "grid", "location", "description", "name", "phone"];
      for (var i = 0; i < names.length; i++) {
        var value = form.elements[names[i]].value.trim();
        if (value || required[names[i]]) body[names[i]] = value;
      }
      var missing = null; // every missing field is marked at once; the first takes the focus
      for (var name in required) {
        if (body[name]) continue;
        if (!fieldError(name, required[name], missing !== null)) show(formError, required[name]);
        if (missing === null) missing = name;
      }
      if (missing !== null) return;
      if (!pendingKey) pendingKey = uuid();
      busy = true;
      submit.disabled = true;
      statusLine.textContent = "正在提交……";
      sendWithRetry("/complaints", body, { "Idempotency-Key": pendingKey }, function (n) {
        statusLine.textContent = "回应较慢，正在确认是否已提交（第 " + n + " 次）……";
      })
        .then(
          function (res) {
            statusLine.textContent = "";
            if (res.status === 200 || res.status === 201) {
              pendingKey = null;
              showReceipt(res.data || {});
            } else if (res.status >= 400 && res.status < 500) {
              pendingKey = null;
              var err = apiError(res.data);
              var message = err.message || "提交未成功（" + res.status + "），请检查后重试。";
              if (!(err.field && fieldError(err.field, message))) show(formError, message);
            } else {
              show(formError, "服务暂时无法受理，请稍后再点“提交”。内容已保留，重复提交不会生成两件投诉。");
            }
          },
          function () {
            statusLine.textContent = "";
            show(formError, "暂时无法确认是否已提交（网络较慢或中断）。内容已保留，请稍后再点“提交”：重复提交不会生成两件投诉，已受理的会直接显示回执。");
          }
        )
        .then(function () {
          busy = false;
          submit.disabled = false;
        });
    });
    var print = $("receipt-print");
    if (print && window.print) {
      print.addEventListener("click", function () {
        window.print();
      });
    } else if (print) hide(print);
  }

  /* ---- 查询进度 ---- */
  function renderLookup(data, voteCode) {
    var body = $("lookup-body");
    clear(body);
    var facts = el("dl", null, "facts");
    addFact(facts, "受理编号", data.tracking);
    addFact(facts, "状态", data.status_label);
    addFact(facts, "类别", data.category_name);
    addFact(facts, "网格", data.grid_name);
    addFact(facts, "受理时间", when(data.received_at));
    var contact = data.contact || {};
    if (contact.name) addFact(facts, "联系人", contact.name);
    if (contact.phone) addFact(facts, "联系电话", contact.phone);
    body.appendChild(facts);

    // The resident's own words, as they wrote them (only they see them, with the code).
    if (data.location || data.description) {
      body.appendChild(el("h3", "您反映的问题"));
      var own = el("dl", null, "facts");
      if (data.location) addFact(own, "地点", data.location);
      body.appendChild(own);
      if (data.description) body.appendChild(el("p", data.description, "free-text"));
    }

    body.appendChild(el("h3", "办理时限"));
    var deadlines = el("dl", null, "facts");
    deadlineFacts(deadlines, data.deadlines, data.deadline_note);
    if (!deadlines.firstChild) addFact(deadlines, "办理时限", "暂未计算");
    body.appendChild(deadlines);

    body.appendChild(el("h3", "办理过程"));
    var steps = el("ol", null, "timeline");
    var timeline = data.timeline || [];
    for (var i = 0; i < timeline.length; i++) {
      var step = timeline[i];
      var item = el("li");
      var head = el("p", null, "step-head");
      head.appendChild(el("time", when(step.at)));
      head.appendChild(document.createTextNode(" "));
      head.appendChild(el("strong", step.label));
      item.appendChild(head);
      item.appendChild(el("p", step.role_label + (step.unit_name ? " · " + step.unit_name : ""), "step-who"));
      if (step.note) item.appendChild(el("p", step.note, "free-text"));
      steps.appendChild(item);
    }
    body.appendChild(steps);

    body.appendChild(el("h3", "办理结果"));
    body.appendChild(el("p", data.answer || "尚未答复。", data.answer ? "free-text" : null));
    if (data.rating_label) body.appendChild(el("p", "您的评价：" + data.rating_label));
    if (data.record_url) {
      var record = el("a", "查看公开的办理记录");
      record.id = "lookup-record";
      record.href = data.record_url;
      var line = body.appendChild(el("p"));
      line.appendChild(record);
      line.appendChild(document.createTextNode("（隐去个人信息后公开）"));
    }
    if (data.can_vote) {
      var link = el("a", "去评价办理结果", "button primary");
      link.id = "lookup-vote";
      link.href = fragmentLink("/vote/", { t: data.tracking, k: voteCode });
      body.appendChild(el("p")).appendChild(link);
    }
    var result = $("lookup-result");
    show(result);
    result.focus();
  }

  function initLookup(form) {
    var submit = $("lookup-submit");
    var statusLine = $("lookup-status");
    var error = $("lookup-error");
    form.noValidate = true;
    var given = fragmentParams();
    var voteCode = given.k || ""; // carried on to the vote link, never shown or sent here
    if (given.t) form.elements.tracking.value = given.t;
    if (given.c) form.elements.code.value = given.c;
    forgetFragment();

    function lookup() {
      hide(error);
      var tracking = form.elements.tracking.value.trim();
      var code = form.elements.code.value.trim();
      if (!tracking || !code) {
        show(error, "请填写受理编号和查询码。");
        return;
      }
      submit.disabled = true;
      statusLine.textContent = "正在查询……";
      sendWithRetry("/cases/lookup", { tracking: tracking, code: code }, {}, function () {
        statusLine.textContent = "回应较慢，正在重新查询……";
      })
        .then(
          function (res) {
            statusLine.textContent = "";
            if (res.status === 200) renderLookup(res.data || {}, voteCode);
            else {
              hide($("lookup-result"));
              var fallback =
                res.status === 404 ? "没有找到这件事项，请核对受理编号和查询码。" : "查询暂时不可用，请稍后再试。";
              showError(error, apiError(res.data), fallback, form);
            }
          },
          function () {
            statusLine.textContent = "";
            show(error, "暂时连不上服务器（网络较慢或中断），请稍后再点“查询”。");
          }
        )
        .then(function () {
          submit.disabled = false;
        });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      lookup();
    });
    if (given.t && given.c) lookup(); // the receipt's link: straight to the answer
  }

  /* ---- 满意度评价 ---- */
  function initVote(form) {
    var submit = $("vote-submit");
    var statusLine = $("vote-status");
    var error = $("vote-error");
    form.noValidate = true;
    var given = fragmentParams();
    if (given.t) form.elements.tracking.value = given.t;
    if (given.k) form.elements.token.value = given.k;
    forgetFragment();
    bindCounters(form);
    var pendingKey = null; // one key per vote; kept for every retry of the same vote
    form.addEventListener("input", function () {
      if (!submit.disabled) pendingKey = null;
    });
    var messages = {
      already_voted: "这次办理结果已经评价过了，每次办结只能评价一次。",
      not_resolved: "这件事项还没有办结，办结后才能评价。",
    };

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      hide(error);
      var tracking = form.elements.tracking.value.trim();
      var token = form.elements.token.value.trim();
      var choice = form.querySelector('input[name="rating"]:checked');
      if (!tracking || !token) {
        show(error, "请填写受理编号和评价码。");
        return;
      }
      if (!choice) {
        show(error, "请选择满意、基本满意或不满意。");
        return;
      }
      var body = { tracking: tracking, token: token, rating: choice.value };
      var comment = form.elements.comment.value.trim();
      if (comment) body.comment = comment;
      if (!pendingKey) pendingKey = uuid();
      submit.disabled = true;
      statusLine.textContent = "正在提交……";
      // A vote is counted once; the API answers a retry of the same vote with its first
      // success, so a slow or lost answer is checked by sending the same vote again.
      sendWithRetry("/cases/vote", body, { "Idempotency-Key": pendingKey }, function (n) {
        statusLine.textContent = "回应较慢，正在确认评价是否已提交（第 " + n + " 次）……";
      })
        .then(
          function (res) {
            statusLine.textContent = "";
            var err = apiError(res.data);
            if (res.status === 200 || res.status === 201) {
              pendingKey = null;
              hide(form);
              $("vote-result-text").textContent =
                "感谢您的评价：" + ((res.data && res.data.rating_label) || choice.parentNode.textContent.trim()) + "。";
              show($("vote-result"));
              $("vote-result").focus();
            } else if (res.status === 409) {
              show(error, labelled(form, err) || messages[err.code] || "暂时不能评价。");
            } else if (res.status === 404) {
              show(error, labelled(form, err) || "没有找到这件事项，或评价码不正确。");
            } else {
              show(error, labelled(form, err) || "服务暂时无法受理评价，请稍后再点“提交评价”；同一评价重复提交只记一次。");
            }
          },
          function () {
            statusLine.textContent = "";
            show(error, "暂时无法确认评价是否已提交（网络较慢或中断）。请稍后再点“提交评价”：同一评价重复提交只记一次，已提交的会直接显示成功。");
          }
        )
        .then(function () {
          submit.disabled = false;
        });
    });
  }

  // Forms post themselves where the script cannot send JSON; a random key in the hidden
  // field keeps a double submit to one case (without it, the API derives one).
  var keys = document.querySelectorAll('input[name="idempotency_key"]');
  for (var k = 0; k < keys.length; k++) keys[k].value = uuid();
  if (!window.fetch || !window.Promise) return;
  var form;
  if ((form = $("report-form"))) initReport(form);
  if ((form = $("lookup-form"))) initLookup(form);
  if ((form = $("vote-form"))) initVote(form);
})();
