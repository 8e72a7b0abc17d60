-- bench/q-load.sql — :n closed tickets with realistic free text for the `q`
-- search (bench/q.sh): Chinese and English subjects and descriptions built
-- from a few dozen phrases, some with order numbers and with the masked
-- forms the daemon stores for phones and cards (138****5678,
-- 6222***********0128), and one rare word ("罕见词<i>") in every 10,000th
-- subject.  text_scanned is true: what is loaded here is already what the
-- daemon would store, so `serve` does not scan it again at start.
\set ON_ERROR_STOP on
SET synchronous_commit = off;

INSERT INTO tickets (tier, state, severity, channel, category, subject, description, created_at,
                     closed_at, version, text_scanned)
SELECT 1 + i % 3, 'closed', CASE WHEN i % 20 = 0 THEN 'major' ELSE 'normal' END, 'phone',
       (ARRAY['billing', 'network', '服务态度', 'device', NULL])[1 + i % 5],
       (ARRAY['宽带断网', '光猫指示灯闪红', '话费扣费异常', 'Router keeps rebooting',
              'Cannot log in to the app', '营业厅服务态度差', '套餐变更未生效', 'WiFi slow at night',
              '退款未到账', 'Invoice shows wrong amount', '信号差 通话中断', 'SIM card not recognised',
              '上门安装迟到', 'Refund request for order', '积分兑换失败', 'Line noise on landline'])[1 + i % 16]
       || CASE WHEN i % 7 = 0 THEN ' 订单号' || (100000000 + (i::bigint * 7919) % 900000000)::text ELSE '' END
       || CASE WHEN i % 11 = 0 THEN '，联系 1' || (30 + i % 60)::text || '****' || lpad((i % 10000)::text, 4, '0') ELSE '' END
       || CASE WHEN i % 10000 = 0 THEN ' 罕见词' || i::text ELSE '' END,
       (ARRAY['客户反映自昨晚起无法上网，已重启光猫无效。',
              'Customer says the problem started after the last update; tried reinstalling.',
              '用户要求退还多扣的月租费，并表示不满。',
              'Technician visit requested; customer available weekdays after 6pm.',
              '已核实账户状态正常，需二线进一步排查。',
              'The card 6222***********0128 was charged twice for the same invoice.'])[1 + i % 6]
       || ' (' || i::text || ')',
       now() - make_interval(secs => (:n - i) * 30), now() - make_interval(secs => (:n - i) * 30 - 3600),
       3, true
FROM generate_series(1, :n) AS i;

ANALYZE tickets;
