package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus series the server exports.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	signatures *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, pool func() (int, int)) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_requests_total", Help: "CSC API requests by method, version and HTTP status.",
		}, []string{"method", "version", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "csc_request_duration_seconds", Help: "CSC API request latency by method and version.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "version"}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_signatures_total", Help: "Signatures returned by signHash, by signature algorithm OID.",
		}, []string{"algorithm"}),
	}
	reg.MustRegister(m.requests, m.latency, m.signatures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hsm_pool_sessions", Help: "Signing sessions in the HSM pool."},
				func() float64 { n, _ := pool(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hsm_pool_sessions_in_use", Help: "Signing sessions checked out right now."},
				func() float64 { _, n := pool(); return float64(n) }),
		)
	}
	return m
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// middleware renders errors (so the status is known) and records the
// request under its CSC method and version; other routes are recorded by
// route, unmatched ones as "unmatched".
func (m *metrics) middleware(s *Server) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			method, ver := methodLabel(c)
			m.requests.WithLabelValues(method, ver, strconv.Itoa(c.Response().Status)).Inc()
			m.latency.WithLabelValues(method, ver).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

func methodLabel(c echo.Context) (method, ver string) {
	route := routeOf(c)
	for _, v := range []string{"v1", "v2"} {
		if rest, ok := strings.CutPrefix(route, "/csc/"+v+"/"); ok {
			return rest, v
		}
	}
	return route, ""
}
