/* escalated — the manager dashboard.
 *
 * Everything the page shows comes from the daemon's API, called with the
 * manager's token (kept in sessionStorage, so only for this browser tab and
 * session) as a Bearer token:
 *   GET /v1/dashboard/summary  open tickets by tier and state, at-risk tickets,
 *                              breaches per day (calendar time zone)
 *   GET /v1/reports/sla        the SLA report table (JSON) and its CSV download
 *   GET /v1/events             the live event feed (long poll)
 * Data is only ever put into the page with textContent (never as HTML). */
(function () {
  'use strict';

  var TOKEN_KEY = 'escalated.dashboard.token';
  var LANG_KEY = 'escalated.dashboard.lang';
  var SUMMARY_EVERY_MS = 30000;
  var FEED_MAX = 200;
  var TIERS = ['line-1', 'line-2', 'line-3'];
  var OPEN_STATES = ['awaiting_ack', 'acknowledged', 'waiting_customer', 'resolved'];
  var KINDS = ['ack', 'resolve', 'callback'];
  var REPORT_COLS = [
    ['created', 'n'], ['acknowledged', 'n'], ['resolved', 'n'], ['closed', 'n'],
    ['ack_breaches', 'n'], ['resolve_breaches', 'n'], ['ack_breach_rate', 'pct'],
    ['resolve_breach_rate', 'pct'], ['mtta_seconds', 'dur'], ['mttr_seconds', 'dur'],
    ['p90_ttr_seconds', 'dur'], ['resolution_rate', 'pct'], ['satisfaction_rate', 'pct']
  ];
  /* ... and, by agent, the counts from the tickets' history (issue 10) */
  var AGENT_COLS = [['handled', 'n'], ['escalated', 'n'], ['returned', 'n'], ['reopened', 'n']];

  var I18N = {
    en: {
      'title': 'Escalation SLA dashboard',
      'signout': 'Sign out',
      'updated': 'Updated {time}',
      'login.title': 'Sign in with a manager token',
      'login.help': 'The token is kept in this browser tab only (session storage) and sent with every request. It needs the manager or admin role.',
      'login.label': 'Token',
      'login.submit': 'Open the dashboard',
      'login.bad': 'That token was not accepted (401). Check it and enter it again.',
      'login.forbidden': 'That token does not belong to a manager or admin (403). Enter a manager token.',
      'login.expired': 'The token is no longer accepted (401). Enter it again.',
      'login.failed': 'The server could not be asked: {msg}',
      'open.title': 'Open tickets by tier and state',
      'open.tier': 'Tier',
      'open.total': 'Total',
      'agents.title': 'Open tickets by agent', 'agents.agent': 'Agent', 'agents.open': 'Open',
      'agents.waiting': 'Waiting for customer', 'agents.risk': 'At risk', 'agents.empty': 'Nobody holds an open ticket.',
      'risk.title': 'At risk in the next hour',
      'risk.caption': 'tickets with a deadline in the next hour',
      'risk.more': '… and {n} more',
      'risk.due': '{kind} due {time}, in {min} min',
      'problems.title': 'Open problems',
      'problems.caption': 'problems not closed; {overdue} overdue actions in all',
      'problems.sub': '{state} · {overdue} overdue actions · {rec} recurrences · {linked} complaints · owner {owner}',
      'problems.more': '… and {n} more',
      'top.title': 'Top problems this month',
      'top.title.month': 'Top problems of {month}',
      'top.sub': '{n} complaints this month · {state} · {rec} recurrences',
      'top.empty': 'No complaint linked to a problem this month.',
      'pstate.open': 'Open', 'pstate.root_cause_found': 'Root cause found',
      'pstate.action_planned': 'Actions planned', 'pstate.fixed': 'Fixed',
      'pstate.verifying': 'Verifying', 'pstate.closed': 'Closed',
      'chart.title': 'Breaches per day, last 30 days ({tz})',
      'chart.missing': 'The chart is unavailable: the server has no Chart.js (install Debian\u2019s libjs-chart.js). The 30-day totals are below.',
      'chart.total': 'In these 30 days: {ack} ack, {resolve} resolve, {callback} callback breaches.',
      'report.title': 'SLA report',
      'report.group': 'Group by',
      'report.from': 'From',
      'report.to': 'To',
      'report.refresh': 'Refresh',
      'report.csv': 'Download CSV',
      'report.empty': 'No tickets in this period.',
      'report.unavailable': 'The SLA report could not be loaded: {msg}',
      'report.badrange': 'The start date must not be after the end date.',
      'group.tier': 'Tier', 'group.severity': 'Severity', 'group.category': 'Category', 'group.day': 'Day',
      'group.assignee': 'Agent', 'col.handled': 'Handled', 'col.escalated': 'Escalated',
      'col.returned': 'Returned', 'col.reopened': 'Reopened',
      'col.created': 'Created', 'col.acknowledged': 'Acknowledged', 'col.resolved': 'Resolved',
      'col.closed': 'Closed', 'col.ack_breaches': 'Ack breaches', 'col.resolve_breaches': 'Resolve breaches',
      'col.ack_breach_rate': 'Ack breach rate', 'col.resolve_breach_rate': 'Resolve breach rate',
      'col.mtta_seconds': 'MTTA', 'col.mttr_seconds': 'MTTR', 'col.p90_ttr_seconds': 'P90 TTR',
      'col.resolution_rate': 'Resolved in SLA', 'col.satisfaction_rate': 'Satisfied',
      'feed.title': 'Live events',
      'feed.live': 'live',
      'feed.connecting': 'connecting',
      'feed.retry': 'reconnecting in {s} s',
      'feed.empty': 'No events yet. New ones appear here as they happen.',
      'feed.unavailable': 'The event feed could not be loaded: {msg}',
      'error.summary': 'The summary could not be loaded: {msg}',
      'none': '(none)',
      'tier.line-1': 'Line 1', 'tier.line-2': 'Line 2', 'tier.line-3': 'Line 3',
      'state.awaiting_ack': 'Awaiting ack', 'state.acknowledged': 'Acknowledged',
      'state.waiting_customer': 'Waiting for customer', 'state.resolved': 'Resolved (callback due)',
      'state.closed': 'Closed',
      'severity.normal': 'Normal', 'severity.major': 'Major',
      'kind.ack': 'Acknowledge', 'kind.resolve': 'Resolve', 'kind.callback': 'Callback',
      'breach.ack': 'Ack breaches', 'breach.resolve': 'Resolve breaches', 'breach.callback': 'Callback breaches',
      'event.created': 'created', 'event.acknowledged': 'acknowledged', 'event.escalated': 'escalated',
      'event.returned': 'returned', 'event.waiting': 'waiting', 'event.resumed': 'resumed',
      'event.resolved': 'resolved', 'event.closed': 'closed', 'event.reopened': 'reopened',
      'event.commented': 'comment', 'event.breached': 'breached', 'event.at_risk': 'at risk',
      'event.customer_revealed': 'customer shown', 'event.notified': 'notified',
      'event.anonymised': 'customer data anonymised',
      'ev.breached': '{kind} deadline missed',
      'ev.at_risk': '{kind} due {time}',
      'ev.move': '{from} → {to}',
      'ev.by': 'by {name}',
      'ticket': 'ticket #{id}',
      'unit.s': '{n} s', 'unit.m': '{n} min', 'unit.h': '{h} h {m} min', 'unit.d': '{d} d {h} h'
    },
    zh: {
      'title': '投诉升级 SLA 看板',
      'signout': '退出',
      'updated': '更新于 {time}',
      'login.title': '使用主管令牌登录',
      'login.help': '令牌只保存在本浏览器标签页中（会话存储），并随每个请求发送。需要主管（manager）或管理员（admin）角色。',
      'login.label': '令牌',
      'login.submit': '打开看板',
      'login.bad': '令牌无效（401）。请检查后重新输入。',
      'login.forbidden': '该令牌不属于主管或管理员（403）。请输入主管令牌。',
      'login.expired': '令牌已失效（401）。请重新输入。',
      'login.failed': '无法访问服务器：{msg}',
      'open.title': '未关闭工单（按线别和状态）',
      'open.tier': '线别',
      'open.total': '合计',
      'agents.title': '各坐席在办工单', 'agents.agent': '坐席', 'agents.open': '在办',
      'agents.waiting': '等待客户', 'agents.risk': '有超时风险', 'agents.empty': '没有人在办工单。',
      'risk.title': '一小时内有超时风险',
      'risk.caption': '张工单的时限在一小时内到期',
      'risk.more': '……另有 {n} 张',
      'risk.due': '{kind}时限 {time}，还剩 {min} 分钟',
      'problems.title': '未关闭的问题',
      'problems.caption': '个问题未关闭；共有 {overdue} 项措施逾期',
      'problems.sub': '{state} · 逾期措施 {overdue} 项 · 复发 {rec} 次 · 投诉 {linked} 张 · 负责人 {owner}',
      'problems.more': '……另有 {n} 个',
      'top.title': '本月高发问题',
      'top.title.month': '{month} 高发问题',
      'top.sub': '本月投诉 {n} 张 · {state} · 复发 {rec} 次',
      'top.empty': '本月还没有投诉关联到问题。',
      'pstate.open': '待分析', 'pstate.root_cause_found': '已找到根因',
      'pstate.action_planned': '已制定措施', 'pstate.fixed': '已修复',
      'pstate.verifying': '验证中', 'pstate.closed': '已关闭',
      'chart.title': '近 30 天每日超时（{tz}）',
      'chart.missing': '图表不可用：服务器未安装 Chart.js（请安装 Debian 软件包 libjs-chart.js）。30 天合计见下方。',
      'chart.total': '近 30 天：受理超时 {ack} 次，解决超时 {resolve} 次，回访超时 {callback} 次。',
      'report.title': 'SLA 报表',
      'report.group': '分组',
      'report.from': '开始日期',
      'report.to': '结束日期',
      'report.refresh': '刷新',
      'report.csv': '下载 CSV',
      'report.empty': '此期间没有工单。',
      'report.unavailable': 'SLA 报表加载失败：{msg}',
      'report.badrange': '开始日期不能晚于结束日期。',
      'group.tier': '线别', 'group.severity': '严重程度', 'group.category': '类别', 'group.day': '日期',
      'group.assignee': '坐席', 'col.handled': '受理', 'col.escalated': '升级', 'col.returned': '退回',
      'col.reopened': '被重开',
      'col.created': '新建', 'col.acknowledged': '已受理', 'col.resolved': '已解决', 'col.closed': '已关闭',
      'col.ack_breaches': '受理超时', 'col.resolve_breaches': '解决超时',
      'col.ack_breach_rate': '受理超时率', 'col.resolve_breach_rate': '解决超时率',
      'col.mtta_seconds': '平均受理时长', 'col.mttr_seconds': '平均解决时长', 'col.p90_ttr_seconds': '解决时长 P90',
      'col.resolution_rate': '按时解决率', 'col.satisfaction_rate': '满意率',
      'feed.title': '实时事件',
      'feed.live': '实时',
      'feed.connecting': '连接中',
      'feed.retry': '{s} 秒后重连',
      'feed.empty': '暂无事件。新事件发生时会显示在这里。',
      'feed.unavailable': '事件流加载失败：{msg}',
      'error.summary': '概览加载失败：{msg}',
      'none': '（无）',
      'tier.line-1': '一线', 'tier.line-2': '二线', 'tier.line-3': '三线',
      'state.awaiting_ack': '待受理', 'state.acknowledged': '处理中',
      'state.waiting_customer': '等待客户', 'state.resolved': '已解决（待回访）', 'state.closed': '已关闭',
      'severity.normal': '普通', 'severity.major': '重大',
      'kind.ack': '受理', 'kind.resolve': '解决', 'kind.callback': '回访',
      'breach.ack': '受理超时', 'breach.resolve': '解决超时', 'breach.callback': '回访超时',
      'event.created': '新建', 'event.acknowledged': '受理', 'event.escalated': '升级',
      'event.returned': '退回', 'event.waiting': '等待客户', 'event.resumed': '恢复处理',
      'event.resolved': '解决', 'event.closed': '关闭', 'event.reopened': '重新打开',
      'event.commented': '评论', 'event.breached': '超时', 'event.at_risk': '超时预警',
      'event.customer_revealed': '查看客户信息', 'event.notified': '通知',
      'event.anonymised': '客户信息已匿名化',
      'ev.breached': '{kind}时限已超',
      'ev.at_risk': '{kind}时限 {time}',
      'ev.move': '{from} → {to}',
      'ev.by': '操作人 {name}',
      'ticket': '工单 #{id}',
      'unit.s': '{n} 秒', 'unit.m': '{n} 分钟', 'unit.h': '{h} 小时 {m} 分', 'unit.d': '{d} 天 {h} 小时'
    }
  };

  var state = {
    token: null,
    lang: 'en',
    tz: 'UTC',
    summary: null,
    report: null,
    events: [],
    feedAfter: null,
    feedStatus: 'connecting',
    feedRetryS: 0,
    feedAbort: null,
    feedGen: 0,
    summaryTimer: null,
    summaryAt: 0,
    refreshSoon: null,
    chart: null
  };

  function $(id) { return document.getElementById(id); }

  function t(key, vars) {
    var s = (I18N[state.lang] && I18N[state.lang][key]);
    if (s === undefined) s = I18N.en[key];
    if (s === undefined) return key;
    return s.replace(/\{(\w+)\}/g, function (m, k) {
      return vars && vars[k] !== undefined && vars[k] !== null ? String(vars[k]) : m;
    });
  }
  /* a translated name when there is one (tiers, states, ...), else the value itself */
  function label(prefix, value) {
    if (value === null || value === undefined || value === '') return t('none');
    var key = prefix + '.' + value;
    var s = I18N[state.lang][key] || I18N.en[key];
    return s === undefined ? String(value) : s;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  /* ---- time in the calendar's zone ---- */

  function fmtTime(iso, withDate) {
    if (!iso) return '—';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var opts = { timeZone: state.tz, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    if (withDate) { opts.month = '2-digit'; opts.day = '2-digit'; }
    try {
      return new Intl.DateTimeFormat(state.lang === 'zh' ? 'zh-CN' : 'en-GB', opts).format(d);
    } catch (e) {
      return d.toISOString();
    }
  }
  function zoneParts(date) {
    var f = new Intl.DateTimeFormat('en-US', {
      timeZone: state.tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit' });
    var m = {};
    f.formatToParts(date).forEach(function (p) { m[p.type] = p.value; });
    return m;
  }
  /* minutes east of UTC of the calendar's zone at an instant */
  function zoneOffset(date) {
    var m = zoneParts(date);
    var asUtc = Date.UTC(+m.year, +m.month - 1, +m.day, +m.hour % 24, +m.minute, +m.second);
    return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
  }
  /* "YYYY-MM-DD" today in the calendar's zone, plus `days` */
  function zoneDay(days) {
    var m = zoneParts(new Date());
    var d = new Date(Date.UTC(+m.year, +m.month - 1, +m.day + (days || 0)));
    return d.toISOString().slice(0, 10);
  }
  /* the instant local midnight starts "YYYY-MM-DD" (+ days) in the calendar's zone */
  function zoneMidnight(day, days) {
    var p = day.split('-').map(Number);
    var guess = Date.UTC(p[0], p[1] - 1, p[2] + (days || 0));
    var t1 = guess - zoneOffset(new Date(guess)) * 60000;
    var t2 = guess - zoneOffset(new Date(t1)) * 60000;
    return new Date(t2);
  }

  function fmtDuration(sec) {
    if (sec === null || sec === undefined || isNaN(sec)) return '—';
    sec = Math.round(Number(sec));
    if (sec < 60) return t('unit.s', { n: sec });
    if (sec < 3600) return t('unit.m', { n: Math.round(sec / 60) });
    if (sec < 86400) return t('unit.h', { h: Math.floor(sec / 3600), m: Math.round((sec % 3600) / 60) });
    return t('unit.d', { d: Math.floor(sec / 86400), h: Math.round((sec % 86400) / 3600) });
  }
  function fmtPct(x) {
    if (x === null || x === undefined || isNaN(x)) return '—';
    return (Number(x) * 100).toFixed(1) + '%';
  }

  /* ---- the API ---- */

  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function api(path, opts) {
    opts = opts || {};
    var headers = { 'Authorization': 'Bearer ' + state.token };
    headers.Accept = opts.accept || 'application/json';
    return fetch(path, { headers: headers, signal: opts.signal, cache: 'no-store',
                         credentials: 'omit', referrerPolicy: 'no-referrer' })
      .then(function (resp) {
        if (resp.ok) {
          if (resp.status === 204) return null;
          return opts.blob ? resp.blob() : resp.json();
        }
        return resp.text().then(function (text) {
          var code = 'http_' + resp.status, msg = resp.status + ' ' + resp.statusText;
          try {
            var j = JSON.parse(text);
            if (j && j.error) { code = j.error.code || code; msg = j.error.message || msg; }
          } catch (e) { /* not JSON */ }
          var err = new ApiError(resp.status, code, msg);
          if (resp.status === 401 || resp.status === 403) authFailed(err);
          throw err;
        });
      });
  }

  function errText(e) {
    if (!e) return '';
    if (e instanceof ApiError) return e.message + ' (' + e.status + ')';
    return e.message || String(e);
  }

  function cardError(id, text) {
    var p = document.querySelector('#' + id + ' .card-error');
    if (!p) return;
    p.textContent = text || '';
    p.hidden = !text;
  }

  /* ---- sign in / out ---- */

  function showLogin(message) {
    stopAll();
    $('app').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    var e = $('login-error');
    e.textContent = message || '';
    e.hidden = !message;
    $('token').value = '';
    $('token').focus();
  }

  function authFailed(err) {
    if (!state.token) return;
    state.token = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
    showLogin(err.status === 403 ? t('login.forbidden') : t('login.expired'));
  }

  function signIn(token) {
    state.token = token;
    var btn = document.querySelector('#login-form button');
    btn.disabled = true;
    loadSummary().then(function () {
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* storage off */ }
      $('login').hidden = true;
      $('app').hidden = false;
      $('signout').hidden = false;
      startAll();
    }, function (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        state.token = null;
        showLogin(e.status === 401 ? t('login.bad') : t('login.forbidden'));
      } else {
        state.token = null;
        showLogin(t('login.failed', { msg: errText(e) }));
      }
    }).then(function () { btn.disabled = false; });
  }

  function signOut() {
    state.token = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
    state.summary = null; state.report = null; state.events = []; state.feedAfter = null;
    showLogin('');
  }

  function startAll() {
    stopAll();
    state.summaryTimer = setInterval(function () { loadSummary().catch(function () {}); }, SUMMARY_EVERY_MS);
    if (!$('report-from').value) {
      $('report-from').value = zoneDay(-29);
      $('report-to').value = zoneDay(0);
    }
    loadReport();
    startFeed();
  }

  function stopAll() {
    if (state.summaryTimer) clearInterval(state.summaryTimer);
    state.summaryTimer = null;
    if (state.refreshSoon) clearTimeout(state.refreshSoon);
    state.refreshSoon = null;
    state.feedGen++;
    if (state.feedAbort) state.feedAbort.abort();
    state.feedAbort = null;
  }

  /* ---- summary: open tickets, at risk, breaches per day ---- */

  function loadSummary() {
    return api('/v1/dashboard/summary?limit=10').then(function (s) {
      state.summary = s;
      state.summaryAt = Date.now();
      if (s.timezone) state.tz = s.timezone;
      cardError('card-open', '');
      renderSummary();
      return s;
    }, function (e) {
      if (!(e instanceof ApiError && (e.status === 401 || e.status === 403)))
        cardError('card-open', t('error.summary', { msg: errText(e) }));
      throw e;
    });
  }

  /* Events change the counts: refresh soon, but at most every 10 s however
   * busy the feed is (the summary counts over indexes, it is not free). */
  function refreshSummarySoon() {
    if (state.refreshSoon) return;
    var delay = Math.max(1500, 10000 - (Date.now() - state.summaryAt));
    state.refreshSoon = setTimeout(function () {
      state.refreshSoon = null;
      loadSummary().catch(function () {});
    }, delay);
  }

  function renderSummary() {
    var s = state.summary;
    if (!s) return;
    $('updated').textContent = t('updated', { time: fmtTime(s.generated_at, false) });
    renderOpen(s);
    renderAgents(s);
    renderRisk(s);
    renderProblems(s);
    renderTopProblems(s);
    renderChart(s);
  }

  /* Open problems, the ones with overdue actions first (the server's order). */
  function renderProblems(s) {
    var p = s.problems || { open_total: 0, overdue_actions: 0, items: [] };
    var count = $('problems-count');
    count.textContent = String(p.open_total);
    count.parentNode.className = 'big' + (p.overdue_actions > 0 ? ' alert' : '');
    $('problems-caption').textContent = t('problems.caption', { overdue: p.overdue_actions });
    var list = $('problem-list');
    clear(list);
    (p.items || []).forEach(function (it) {
      var li = el('li');
      li.dataset.problem = String(it.id);
      li.dataset.overdue = String(it.overdue_actions);
      li.dataset.recurrences = String(it.recurrences);
      li.appendChild(el('strong', null, '#' + it.id + ' '));
      li.appendChild(el('span', 'title', it.title || ''));
      li.appendChild(el('span', 'sub',
        (it.category ? it.category + ' · ' : '') +
        t('problems.sub', { state: label('pstate', it.state), overdue: it.overdue_actions,
                            rec: it.recurrences, linked: it.linked_tickets,
                            owner: (it.owner && it.owner.name) || '' })));
      if (it.overdue_actions > 0) li.className = 'overdue';
      list.appendChild(li);
    });
    if (p.open_total > (p.items || []).length)
      list.appendChild(el('li', 'muted', t('problems.more', { n: p.open_total - p.items.length })));
  }

  /* The month's most frequent problems, by complaints linked this month. */
  function renderTopProblems(s) {
    var top = s.top_problems_month || { month: null, items: [] };
    $('top-problems-title').textContent = top.month ? t('top.title.month', { month: top.month })
                                                    : t('top.title');
    var list = $('top-problem-list');
    clear(list);
    (top.items || []).forEach(function (it) {
      var li = el('li');
      li.dataset.problem = String(it.id);
      li.dataset.complaints = String(it.complaints);
      li.appendChild(el('strong', null, '#' + it.id + ' '));
      li.appendChild(el('span', 'title', it.title || ''));
      li.appendChild(el('span', 'sub',
        (it.category ? it.category + ' · ' : '') +
        t('top.sub', { n: it.complaints, state: label('pstate', it.state), rec: it.recurrences })));
      list.appendChild(li);
    });
    if (!(top.items || []).length) list.appendChild(el('li', 'muted', t('top.empty')));
  }

  function renderOpen(s) {
    var counts = {};
    (s.open || []).forEach(function (o) { counts[o.tier + '|' + o.state] = o.count; });
    var table = $('open-table');
    clear(table);
    var thead = el('thead'), hr = el('tr');
    hr.appendChild(el('th', null, t('open.tier')));
    OPEN_STATES.forEach(function (st) {
      var th = el('th', null, label('state', st));
      th.dataset.state = st;
      hr.appendChild(th);
    });
    hr.appendChild(el('th', null, t('open.total')));
    thead.appendChild(hr);
    table.appendChild(thead);
    var tbody = el('tbody'), colTotals = OPEN_STATES.map(function () { return 0; }), all = 0;
    TIERS.forEach(function (tier) {
      var tr = el('tr'), rowTotal = 0;
      tr.dataset.tier = tier;
      tr.appendChild(el('th', null, label('tier', tier)));
      OPEN_STATES.forEach(function (st, i) {
        var n = counts[tier + '|' + st] || 0;
        rowTotal += n; colTotals[i] += n;
        var td = el('td', n ? null : 'zero', n);
        td.dataset.tier = tier;
        td.dataset.state = st;
        td.dataset.count = String(n);
        tr.appendChild(td);
      });
      all += rowTotal;
      tr.appendChild(el('td', null, rowTotal));
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    var tfoot = el('tfoot'), fr = el('tr');
    fr.appendChild(el('th', null, t('open.total')));
    colTotals.forEach(function (n) { fr.appendChild(el('td', null, n)); });
    var tot = el('td', null, all);
    tot.id = 'open-total';
    fr.appendChild(tot);
    tfoot.appendChild(fr);
    table.appendChild(tfoot);
  }

  /* The open tickets each agent holds (summary "agents", issue 10). */
  function renderAgents(s) {
    var table = $('agents-table');
    clear(table);
    var thead = el('thead'), hr = el('tr');
    ['agents.agent', 'agents.open', 'agents.waiting', 'agents.risk'].forEach(function (k) {
      hr.appendChild(el('th', null, t(k)));
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    var tbody = el('tbody'), agents = s.agents || [];
    if (!agents.length) {
      var tr0 = el('tr'), td0 = el('td', 'muted', t('agents.empty'));
      td0.colSpan = 4;
      tr0.appendChild(td0);
      tbody.appendChild(tr0);
    }
    agents.forEach(function (a) {
      var tr = el('tr');
      tr.dataset.agent = String(a.agent.id);
      tr.appendChild(el('th', null, String(a.agent.name) +
                                     (a.agent.tier ? ' · ' + label('tier', a.agent.tier) : '')));
      [['open', a.open], ['waiting_customer', a.waiting_customer], ['at_risk', a.at_risk]].forEach(function (c) {
        var td = el('td', c[1] ? null : 'zero', c[1]);
        td.dataset.col = c[0];
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
  }

  function renderRisk(s) {
    var r = s.at_risk_next_hour || { count: 0, items: [] };
    var count = $('risk-count');
    count.textContent = String(r.count);
    count.parentNode.className = 'big' + (r.count > 0 ? ' alert' : '');
    $('risk-caption').textContent = t('risk.caption');
    var list = $('risk-list');
    clear(list);
    var now = s.generated_at ? new Date(s.generated_at).getTime() : Date.now();
    (r.items || []).forEach(function (it) {
      var li = el('li');
      li.dataset.ticket = String(it.id);
      li.appendChild(el('strong', null, '#' + it.id + ' '));
      li.appendChild(el('span', 'subject', it.subject));
      var mins = Math.max(0, Math.round((new Date(it.due_at).getTime() - now) / 60000));
      var sub = el('span', 'sub',
        label('tier', it.tier) + ' · ' + label('state', it.state) + ' · ' + label('severity', it.severity) +
        (it.category ? ' · ' + it.category : '') + ' · ' +
        t('risk.due', { kind: label('kind', it.deadline), time: fmtTime(it.due_at, false), min: mins }));
      li.appendChild(sub);
      list.appendChild(li);
    });
    if (r.count > (r.items || []).length)
      list.appendChild(el('li', 'muted', t('risk.more', { n: r.count - r.items.length })));
  }

  function renderChart(s) {
    var days = s.breaches_per_day || [];
    $('chart-title').textContent = t('chart.title', { tz: state.tz });
    var sums = { ack: 0, resolve: 0, callback: 0 };
    days.forEach(function (d) { KINDS.forEach(function (k) { sums[k] += d[k] || 0; }); });
    $('chart-total').textContent = t('chart.total', sums);
    if (typeof window.Chart !== 'function') {
      $('chart-missing').hidden = false;
      $('breach-chart').parentNode.hidden = true;
      return;
    }
    $('chart-missing').hidden = true;
    $('breach-chart').parentNode.hidden = false;
    var colors = { ack: '#e39a2d', resolve: '#d64545', callback: '#5b7bd5' };
    var labels = days.map(function (d) { return d.day.slice(5); });
    var datasets = KINDS.map(function (k) {
      return { label: t('breach.' + k), key: k, data: days.map(function (d) { return d[k] || 0; }),
               backgroundColor: colors[k], stack: 'b' };
    });
    if (state.chart) {
      state.chart.data.labels = labels;
      state.chart.data.days = days.map(function (d) { return d.day; });
      state.chart.data.datasets.forEach(function (ds, i) {
        ds.data = datasets[i].data;
        ds.label = datasets[i].label;
      });
      state.chart.update();
      return;
    }
    state.chart = new window.Chart($('breach-chart'), {
      type: 'bar',
      data: { labels: labels, days: days.map(function (d) { return d.day; }), datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true, ticks: { autoSkip: true, maxRotation: 0 } },
                  y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: 'bottom' } }
      }
    });
  }

  /* ---- the SLA report ---- */

  function reportRange() {
    var from = $('report-from').value, to = $('report-to').value;
    if (!from || !to) return null;
    if (from > to) return null;
    return { from: zoneMidnight(from, 0).toISOString(), to: zoneMidnight(to, 1).toISOString(),
             fromDay: from, toDay: to };
  }

  function reportUrl(range) {
    return '/v1/reports/sla?group_by=' + encodeURIComponent($('group-by').value) +
      '&from=' + encodeURIComponent(range.from) + '&to=' + encodeURIComponent(range.to);
  }

  function loadReport() {
    var range = reportRange();
    if (!range) { cardError('card-report', t('report.badrange')); return Promise.resolve(); }
    var groupBy = $('group-by').value;
    var table = $('report-table');
    table.setAttribute('aria-busy', 'true');
    return api(reportUrl(range)).then(function (rep) {
      state.report = rep;
      cardError('card-report', '');
      renderReport();
    }, function (e) {
      state.report = null;
      renderReport();
      if (!(e instanceof ApiError && (e.status === 401 || e.status === 403)))
        cardError('card-report', t('report.unavailable', { msg: errText(e) }));
    }).then(function () {
      table.dataset.groupBy = groupBy;
      table.removeAttribute('aria-busy');
    });
  }

  function renderReport() {
    var table = $('report-table');
    clear(table);
    var rep = state.report;
    if (!rep) return;
    var groupBy = rep.group_by || $('group-by').value;
    var cols = groupBy === 'assignee' ? REPORT_COLS.concat(AGENT_COLS) : REPORT_COLS;
    var thead = el('thead'), hr = el('tr');
    hr.appendChild(el('th', null, t('group.' + groupBy)));
    cols.forEach(function (c) {
      var th = el('th', null, t('col.' + c[0]));
      th.dataset.col = c[0];
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    var tbody = el('tbody');
    var groups = rep.groups || [];
    if (!groups.length) {
      var tr0 = el('tr'), td0 = el('td', 'muted', t('report.empty'));
      td0.colSpan = cols.length + 1;
      tr0.appendChild(td0);
      tbody.appendChild(tr0);
    }
    groups.forEach(function (g) {
      var tr = el('tr');
      tr.dataset.key = g.key === null || g.key === undefined ? '' : String(g.key);
      var keyText = groupBy === 'tier' ? label('tier', g.key)
                  : groupBy === 'severity' ? label('severity', g.key)
                  : groupBy === 'assignee' && g.agent ? String(g.agent.name)
                  : (g.key === null || g.key === undefined || g.key === '' ? t('none') : String(g.key));
      tr.appendChild(el('td', 'key', keyText));
      cols.forEach(function (c) {
        var v = g[c[0]], text;
        if (c[1] === 'pct') text = fmtPct(v);
        else if (c[1] === 'dur') text = fmtDuration(v);
        else text = v === null || v === undefined ? '—' : String(v);
        var td = el('td', c[1] === 'n' && v === 0 ? 'zero' : null, text);
        td.dataset.col = c[0];
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
  }

  /* The CSV carries the token, so it is fetched and handed over as a Blob,
   * not linked to with a plain href. */
  function downloadCsv() {
    var range = reportRange();
    if (!range) { cardError('card-report', t('report.badrange')); return; }
    var btn = $('report-csv');
    btn.disabled = true;
    api(reportUrl(range), { accept: 'text/csv', blob: true }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = document.createElement('a');
      a.href = url;
      a.download = 'sla-report-' + $('group-by').value + '-' + range.fromDay + '-' + range.toDay + '.csv';
      document.body.appendChild(a);
      a.click();
      document.body.removeChild(a);
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      cardError('card-report', '');
    }, function (e) {
      if (!(e instanceof ApiError && (e.status === 401 || e.status === 403)))
        cardError('card-report', t('report.unavailable', { msg: errText(e) }));
    }).then(function () { btn.disabled = false; });
  }

  /* ---- the live feed: long poll with back-off ---- */

  function setFeedStatus(st, retryS) {
    state.feedStatus = st;
    state.feedRetryS = retryS || 0;
    var p = $('feed-status');
    p.className = 'pill' + (st === 'live' ? ' live' : st === 'retry' ? ' down' : '');
    p.textContent = st === 'retry' ? t('feed.retry', { s: retryS }) : t('feed.' + st);
    p.dataset.status = st;
  }

  function eventId(ev) { return typeof ev.id === 'number' ? ev.id : Number(ev.id); }

  function startFeed() {
    var gen = state.feedGen;
    var delay = 0;
    setFeedStatus('connecting');
    renderFeed();
    function next() {
      if (gen !== state.feedGen || !state.token) return;
      var ctl = typeof AbortController === 'function' ? new AbortController() : null;
      state.feedAbort = ctl;
      /* The summary says where the latest events start; the first call
       * answers at once, then each call waits up to 25 s for new ones. */
      var first = state.feedAfter === null;
      if (first) state.feedAfter = (state.summary && state.summary.feed_after) || 0;
      var url = '/v1/events?after=' + encodeURIComponent(state.feedAfter) + '&limit=100&wait=' + (first ? 0 : 25);
      api(url, { signal: ctl ? ctl.signal : undefined }).then(function (res) {
        if (gen !== state.feedGen) return;
        delay = 0;
        cardError('card-feed', '');
        setFeedStatus('live');
        addEvents((res && res.items) || [], res);
        setTimeout(next, 0);
      }, function (e) {
        if (gen !== state.feedGen) return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return;
        delay = Math.min(30, delay ? delay * 2 : 1);
        if (e instanceof ApiError) cardError('card-feed', t('feed.unavailable', { msg: errText(e) }));
        setFeedStatus('retry', delay);
        setTimeout(next, delay * 1000);
      });
    }
    next();
  }

  /* The feed is in commit order, not id order: the cursor is the server's
   * next_after, and the list is shown newest id first. */
  function addEvents(items, res) {
    var sawChange = false;
    items.forEach(function (ev) {
      var id = eventId(ev);
      if (state.events.some(function (x) { return eventId(x) === id; })) return;
      state.events.push(ev);
      if (ev.type !== 'commented' && ev.type !== 'notified' && ev.type !== 'customer_revealed') sawChange = true;
    });
    if (res && typeof res.next_after === 'number') state.feedAfter = res.next_after;
    state.events.sort(function (a, b) { return eventId(b) - eventId(a); });
    if (state.events.length > FEED_MAX) state.events.length = FEED_MAX;
    renderFeed();
    if (sawChange && items.length && state.summary) refreshSummarySoon();
  }

  function describe(ev) {
    var parts = [];
    if (ev.type === 'breached') {
      var kind = ev.kind || (ev.data && ev.data.kind);
      if (kind) parts.push(t('ev.breached', { kind: label('kind', kind) }));
    }
    if (ev.type === 'at_risk' && ev.resolve_due_at)
      parts.push(t('ev.at_risk', { kind: label('kind', 'resolve'), time: fmtTime(ev.resolve_due_at, true) }));
    if (ev.from_tier && ev.to_tier && ev.from_tier !== ev.to_tier)
      parts.push(t('ev.move', { from: label('tier', ev.from_tier), to: label('tier', ev.to_tier) }));
    else if (ev.to_state && ev.from_state && ev.from_state !== ev.to_state)
      parts.push(t('ev.move', { from: label('state', ev.from_state), to: label('state', ev.to_state) }));
    if (ev.reason) parts.push('“' + ev.reason + '”');
    if (ev.actor && ev.actor.name) parts.push(t('ev.by', { name: ev.actor.name }));
    return parts.join(' · ');
  }

  function renderFeed() {
    var ol = $('feed');
    clear(ol);
    if (!state.events.length) {
      ol.appendChild(el('li', 'muted', t('feed.empty')));
      return;
    }
    state.events.forEach(function (ev) {
      var li = el('li');
      li.dataset.type = ev.type;
      li.dataset.ticket = String(ev.ticket_id);
      li.dataset.id = String(ev.id);
      li.appendChild(el('span', 'muted', fmtTime(ev.at, true)));
      var tag = el('span', 'tag ' + String(ev.type).replace(/[^a-z_]/g, ''), label('event', ev.type));
      var tagBox = el('span');
      tagBox.appendChild(tag);
      li.appendChild(tagBox);
      var what = el('span', 'what');
      what.appendChild(el('strong', null, t('ticket', { id: ev.ticket_id }) + ' '));
      if (ev.subject) what.appendChild(el('span', null, ev.subject + ' '));
      what.appendChild(el('span', 'muted', describe(ev)));
      li.appendChild(what);
      ol.appendChild(li);
    });
  }

  /* ---- language ---- */

  function applyLang() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    Array.prototype.forEach.call(document.querySelectorAll('[data-i18n]'), function (n) {
      n.textContent = t(n.getAttribute('data-i18n'));
    });
    var b = $('lang');
    b.textContent = state.lang === 'zh' ? 'English' : '中文';
    b.lang = state.lang === 'zh' ? 'en' : 'zh-CN';
    if (state.feedStatus) setFeedStatus(state.feedStatus, state.feedRetryS);
    if (state.chart) {
      state.chart.destroy();
      state.chart = null;
    }
    renderSummary();
    renderReport();
    renderFeed();
  }

  function pickLang() {
    var q = /[?&]lang=(zh|en)\b/.exec(location.search);
    if (q) return q[1];
    try {
      var saved = localStorage.getItem(LANG_KEY);
      if (saved === 'zh' || saved === 'en') return saved;
    } catch (e) { /* storage off */ }
    return /^zh\b/i.test(navigator.language || '') ? 'zh' : 'en';
  }

  /* ---- start ---- */

  function init() {
    state.lang = pickLang();
    applyLang();
    $('lang').addEventListener('click', function () {
      state.lang = state.lang === 'zh' ? 'en' : 'zh';
      try { localStorage.setItem(LANG_KEY, state.lang); } catch (e) { /* storage off */ }
      applyLang();
    });
    $('signout').addEventListener('click', signOut);
    $('login-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = $('token').value.trim();
      if (v) signIn(v);
    });
    $('report-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      loadReport();
    });
    $('group-by').addEventListener('change', function () { loadReport(); });
    $('report-csv').addEventListener('click', downloadCsv);
    var saved = null;
    try { saved = sessionStorage.getItem(TOKEN_KEY); } catch (e) { /* storage off */ }
    if (saved) signIn(saved);
    else showLogin('');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
