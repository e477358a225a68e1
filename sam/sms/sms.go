package sms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Message is one SMS to send. Body may hold a one-time code: it must never
// be logged (except by [Log]) or put in an error.
type Message struct {
	To   string // E.164, e.g. +447700900123
	Body string
}

// Sender delivers a message to a phone. Send returns nil once the provider
// has accepted the message for delivery; it does not wait for the handset.
// Errors never contain the message body.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalidNumber is returned (wrapped) when a phone number is not E.164.
// The offending number is not repeated in the error.
var ErrInvalidNumber = errors.New("not an E.164 phone number")

// e164 accepts '+', a non-zero country-code digit and 7 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// ValidE164 reports whether s is a phone number in E.164 form (+ and 7 to
// 15 digits, no spaces or punctuation).
func ValidE164(s string) bool { return e164.MatchString(s) }

func checkDestination(to string) error {
	if !ValidE164(to) {
		return fmt.Errorf("sms: destination: %w", ErrInvalidNumber)
	}
	return nil
}

// ProviderError is returned when an SMS provider refused or failed a
// message. It carries the provider's status and error code only: never the
// message body, nor the provider's free-text message (which could echo
// request data).
type ProviderError struct {
	Provider string // "twilio"
	Status   int    // HTTP status of the provider's answer
	Code     int    // provider error code, e.g. Twilio 21211; 0 if none
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("sms: %s refused the message (status %d, code %d)", e.Provider, e.Status, e.Code)
}
