package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/openrssp/rssp/openapi"
)

// healthz says the process is up; it checks nothing else.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status  string   `json:"status"`
	Failing []string `json:"failing,omitempty"`
}

// readyz checks that the database and the HSM answer, each within 2 s.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	var failing []string
	for _, chk := range s.checks {
		if err := chk.Ping(ctx); err != nil {
			s.log.Warn("readiness check failed", slog.String("check", chk.Name), slog.String("error", err.Error()))
			failing = append(failing, chk.Name)
		}
	}
	if len(failing) > 0 {
		return c.JSON(http.StatusServiceUnavailable, readiness{Status: "unavailable", Failing: failing})
	}
	return c.JSON(http.StatusOK, readiness{Status: "ready"})
}

// openapi serves the OpenAPI document of this server.
func (s *Server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openapi.Spec())
}
