/* Site search (站内搜索) over the Pagefind index the build writes to /pagefind/.
 *
 * The form is a plain GET to /search/?q=…, so the query survives a reload and a shared
 * link; this script reads ?q=, loads Pagefind (its WebAssembly only when someone searches)
 * and lists the results. Everything goes into the page through textContent and
 * createElement: an excerpt's <mark> tags are the only markup kept, rebuilt as elements.
 * A large site's index holds its newest records only (search.py): /pagefind/scope.json
 * says since when, and the page says so under the results.
 */
(function () {
  "use strict";
  var PAGE = 10;
  var form = document.getElementById("search-form");
  var input = document.getElementById("search-q");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var scopeNote = document.getElementById("search-scope");
  if (!form || !input || !status || !list) {
    return;
  }
  var engine = null;
  var scope = null;

  function load() {
    if (!engine) {
      engine = import("/pagefind/pagefind.js").then(function (pagefind) {
        return Promise.resolve(pagefind.options({ baseUrl: "/" })).then(function () {
          return pagefind;
        });
      });
    }
    return engine;
  }

  // "2026-11-08" -> "2026年11月8日"
  function dayLabel(day) {
    var parts = String(day).split("-");
    return parts[0] + "年" + Number(parts[1]) + "月" + Number(parts[2]) + "日";
  }

  // What the index covers: said once, under the results, when it leaves older records out.
  function showScope() {
    if (!scope) {
      scope = fetch("/pagefind/scope.json")
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .catch(function () {
          return null;
        });
    }
    scope.then(function (covered) {
      if (!scopeNote || !covered || covered.complete || !covered.since) {
        return;
      }
      var browse = document.createElement("a");
      browse.href = "/cases/";
      browse.textContent = "按月份浏览";
      scopeNote.textContent = "";
      scopeNote.appendChild(
        document.createTextNode(
          "搜索范围：" +
            dayLabel(covered.since) +
            "以来受理的 " +
            Number(covered.cases).toLocaleString("zh-CN") +
            " 条办理记录和全部网格公示牌。更早的记录请"
        )
      );
      scopeNote.appendChild(browse);
      scopeNote.appendChild(document.createTextNode("。"));
      scopeNote.hidden = false;
    });
  }

  function text(value) {
    // Pagefind's excerpts are HTML-escaped text: decode entities without running anything.
    var doc = new DOMParser().parseFromString(value, "text/html");
    return doc.body.textContent || "";
  }

  // Pagefind ends each block of a page it joins into an excerpt with ". " when the block
  // has no full stop of its own (a heading, a label, a status), else with a space.
  // Between Chinese words the first reads as stray English, so it becomes a full-width
  // space (none at either end), and the space after a full-width stop goes. Only after
  // Chinese, or after the record's id that opens its page: English keeps its full stops.
  var JOINT = /(^[a-z0-9]{12}|[^\x00-\x7f])((?:<\/?mark>)?)\.(?: |$)/g;
  var AFTER_STOP = /([。！？；])((?:<\/?mark>)?) (?=[^\x00-\x7f]|<mark>)/g;
  var ENDS = /^(?:\u3000|\. )+|\u3000+$/g;

  function tidy(html) {
    return String(html || "")
      .replace(JOINT, "$1$2\u3000")
      .replace(AFTER_STOP, "$1$2")
      .replace(ENDS, "");
  }

  function excerpt(html) {
    var out = document.createElement("p");
    out.className = "search-excerpt";
    var parts = tidy(html).split(/<mark>|<\/mark>/);
    for (var i = 0; i < parts.length; i++) {
      var piece = text(parts[i]);
      if (i % 2 === 1) {
        var mark = document.createElement("mark");
        mark.textContent = piece;
        out.appendChild(mark);
      } else {
        out.appendChild(document.createTextNode(piece));
      }
    }
    return out;
  }

  // A case page is stored as /cases/<id>.html and served as /cases/<id>/ (the site
  // directory's layout, directory_site.stored_name): link to the address people share.
  function pageUrl(url) {
    return String(url).replace(/^(\/cases\/[^/]+)\.html$/, "$1/");
  }

  function show(results, shown) {
    return Promise.all(
      results.slice(shown, shown + PAGE).map(function (r) {
        return r.data();
      })
    ).then(function (pages) {
      pages.forEach(function (data) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        var url = pageUrl(data.url);
        link.href = url;
        link.textContent = (data.meta && data.meta.title) || url;
        item.appendChild(link);
        item.appendChild(excerpt(data.excerpt));
        list.appendChild(item);
      });
      var next = shown + pages.length;
      var more = document.getElementById("search-more");
      if (more) {
        more.parentNode.removeChild(more);
      }
      if (next < results.length) {
        more = document.createElement("button");
        more.type = "button";
        more.id = "search-more";
        more.className = "button";
        more.textContent = "显示更多结果";
        more.addEventListener("click", function () {
          show(results, next);
        });
        list.parentNode.insertBefore(more, list.nextSibling);
      }
    });
  }

  function run(query) {
    list.textContent = "";
    if (!query) {
      status.textContent = "";
      return;
    }
    status.textContent = "正在搜索……";
    showScope();
    load()
      .then(function (pagefind) {
        return pagefind.search(query);
      })
      .then(function (search) {
        var results = search.results;
        status.textContent = results.length
          ? "找到 " + results.length + " 条结果。"
          : "没有找到与“" + query + "”相关的记录。请换一个词，或用短一些的词（两三个字）再试。";
        return show(results, 0);
      })
      .catch(function () {
        status.textContent = "搜索暂时无法使用，请稍后再试，或按下方分类浏览。";
      });
  }

  var query = new URLSearchParams(window.location.search).get("q") || "";
  input.value = query;
  run(query.trim());
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = input.value.trim();
    window.history.replaceState(null, "", "/search/" + (value ? "?q=" + encodeURIComponent(value) : ""));
    run(value);
  });
})();
