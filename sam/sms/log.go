package sms

import (
	"context"
	"errors"
	"log/slog"
)

// Log is the development sender: it writes messages, code included, to the
// server log instead of sending them, so `make run` works without an SMS
// provider. It cannot be built in production.
type Log struct {
	logger *slog.Logger
}

var _ Sender = (*Log)(nil)

// ErrLogSenderInProduction is returned by [NewLog] when production is true.
var ErrLogSenderInProduction = errors.New("sms: the log sender prints one-time codes to the console and is refused in production; configure twilio")

// NewLog returns a sender that logs messages at WARN. It refuses (with
// [ErrLogSenderInProduction]) when production is true.
func NewLog(logger *slog.Logger, production bool) (*Log, error) {
	if production {
		return nil, ErrLogSenderInProduction
	}
	if logger == nil {
		return nil, errors.New("sms: log sender needs a logger")
	}
	logger.Warn("DEVELOPMENT ONLY: SMS log sender enabled; one-time codes will be printed to this log and no SMS will be sent")
	return &Log{logger: logger}, nil
}

// Send logs m at WARN, including its body (that is the point: the
// developer reads the code on the console). It checks m.To like a real
// sender would.
func (l *Log) Send(ctx context.Context, m Message) error {
	if err := checkDestination(m.To); err != nil {
		return err
	}
	l.logger.WarnContext(ctx, "DEVELOPMENT ONLY - SMS NOT SENT, printed here instead; never use the log sender in production",
		slog.String("to", m.To),
		slog.String("body", m.Body))
	return nil
}
