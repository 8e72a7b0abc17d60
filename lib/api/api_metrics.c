/* api_metrics.c — GET /metrics (SPEC section 5): the Prometheus text format.
 * In-process figures first (requests, pool, SLA engine, process), then the
 * figures read from the database with one statement.  When the database
 * cannot be read the answer is still 200, with escalated_db_up 0 and without
 * the database families.  docs/metrics.md lists every metric. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "core/metrics.h"
#include "workers/workers.h"

#ifndef ESC_VERSION
#define ESC_VERSION "unknown"
#endif

/* Unix time the process started: /proc/self/stat field 22 (clock ticks after
 * boot) plus the boot time from /proc/stat.  -1 when unknown. */
static double start_time = -1;

static void read_start_time(void)
{
    double result = -1;
    char buf[1024];
    unsigned long long start_ticks = 0, btime = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
        /* after ") " come fields 3.. ; starttime is field 22 */
        for (int field = 2; p && field < 22; field++)
            p = strchr(p + 1, ' ');
        if (p)
            start_ticks = strtoull(p + 1, NULL, 10);
    }
    f = fopen("/proc/stat", "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (strncmp(buf, "btime ", 6) == 0)
                btime = strtoull(buf + 6, NULL, 10);
        fclose(f);
    }
    long hz = sysconf(_SC_CLK_TCK);
    if (start_ticks && btime && hz > 0)
        result = (double)btime + (double)start_ticks / (double)hz;
    start_time = result;
}

static double process_start_time(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_start_time);
    return start_time;
}

static void render_process(struct escp_text *t)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        escp_prom_family(t, "process_cpu_seconds_total", "counter",
                         "User and system CPU time spent, in seconds.");
        escp_prom_sample(t, "process_cpu_seconds_total", NULL, cpu);
    }
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long long size, resident;
        if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
            escp_prom_family(t, "process_resident_memory_bytes", "gauge",
                             "Resident memory size in bytes.");
            escp_prom_sample_u64(t, "process_resident_memory_bytes", NULL,
                                 resident * (unsigned long long)sysconf(_SC_PAGESIZE));
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        uint64_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        escp_prom_family(t, "process_open_fds", "gauge", "Open file descriptors.");
        escp_prom_sample_u64(t, "process_open_fds", NULL, n ? n - 1 : 0); /* not the one reading */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        escp_prom_family(t, "process_max_fds", "gauge", "The limit on open file descriptors.");
        escp_prom_sample_u64(t, "process_max_fds", NULL, (uint64_t)rl.rlim_cur);
    }
    double start = process_start_time();
    if (start > 0) {
        escp_prom_family(t, "process_start_time_seconds", "gauge",
                         "Start time of the process since the Unix epoch, in seconds.");
        escp_prom_sample(t, "process_start_time_seconds", NULL, start);
    }
    escp_prom_family(t, "escalated_build_info", "gauge",
                     "Always 1; the version of the running binary is a label.");
    escp_prom_sample(t, "escalated_build_info", (const char *const[]){"version", ESC_VERSION, NULL}, 1);
}

static void render_engine(struct escp_svc *svc, struct escp_text *t)
{
    struct escp_engine_stats st;
    if (!escp_svc_engine_stats(svc, &st))
        return; /* a server started without the SLA engine */
    escp_prom_family(t, "escalated_sla_timers_fired_total", "counter",
                     "Timers this process's SLA engine fired (breaches and at-risk warnings).");
    escp_prom_sample_u64(t, "escalated_sla_timers_fired_total", NULL, st.fired);
    escp_prom_family(t, "escalated_sla_engine_passes_total", "counter",
                     "Batches this process's SLA engine ran (each looks for due timers).");
    escp_prom_sample_u64(t, "escalated_sla_engine_passes_total", NULL, st.passes);
    escp_prom_family(t, "escalated_sla_lateness_last_seconds", "gauge",
                     "detected_at - due_at of the latest timer of the last batch that fired any.");
    escp_prom_sample(t, "escalated_sla_lateness_last_seconds", NULL, st.last_late_s);
    escp_prom_family(t, "escalated_sla_lateness_max_seconds", "gauge",
                     "The largest detected_at - due_at this process's SLA engine has seen.");
    escp_prom_sample(t, "escalated_sla_lateness_max_seconds", NULL, st.max_late_s);
}

static void escp_api_metrics(struct escp_req *r)
{
    if (escp_query_only(r, (const char *const[]){NULL}) != 0)
        return;
    struct escp_text t = {0};

    escp_metrics_render(escp_http_metrics(r->http), &t);
    escp_prom_family(&t, "escalated_http_requests_in_flight", "gauge",
                     "HTTP requests being served now, this scrape and waiting long polls included.");
    escp_prom_sample(&t, "escalated_http_requests_in_flight", NULL,
                     (double)escp_http_in_flight(r->http));

    int leased = 0, size = 0;
    escp_svc_pool_usage(r->svc, &leased, &size); /* before this scrape leases one */
    escp_prom_family(&t, "escalated_db_pool_size", "gauge",
                     "Database connections the pool may hold (--pool-size).");
    escp_prom_sample(&t, "escalated_db_pool_size", NULL, size);
    escp_prom_family(&t, "escalated_db_pool_leased", "gauge",
                     "Pooled database connections in use by requests now.");
    escp_prom_sample(&t, "escalated_db_pool_leased", NULL, leased);

    render_engine(r->svc, &t);
    render_process(&t);

    struct escp_db_figures db;
    bool ok = escp_svc_db_metrics(r->svc, escp_http_metrics(r->http), &db);
    escp_prom_family(&t, "escalated_db_up", "gauge",
                     "1 when the database figures below could be read; 0 when the database could "
                     "not be reached or no pooled connection was free within 1 s.");
    escp_prom_sample(&t, "escalated_db_up", NULL, ok);
    if (ok) {
        escp_prom_family(&t, "escalated_db_read_duration_seconds", "gauge",
                         "How long the statement that read the database figures took.");
        escp_prom_sample(&t, "escalated_db_read_duration_seconds", NULL, round(db.cost * 1e6) / 1e6);
        escp_prom_family(&t, "escalated_db_read_age_seconds", "gauge",
                         "Age of the database figures: a reading is reused while it is younger "
                         "than ten times what it took.");
        escp_prom_sample(&t, "escalated_db_read_age_seconds", NULL, round(db.age * 1e6) / 1e6);
        escp_metrics_render_db(&db.d, &t);
    }

    size_t len = 0;
    char *text = escp_text_take(&t, &len);
    if (!text) {
        esc_error_set(&r->err, ESC_ERR_INTERNAL, NULL, "out of memory");
        return;
    }
    /* every line ends in a newline; the renderer adds the last one back */
    if (len && text[len - 1] == '\n')
        text[--len] = '\0';
    r->raw = text;
    r->raw_len = len;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    r->status = 200;
}

const struct escp_route escp_routes_metrics[] = {
    {"GET", "/metrics", escp_api_metrics, ESCP_PUBLIC, -1},
    {0},
};
