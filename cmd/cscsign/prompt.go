package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// terminalOf returns whether f is a terminal and a reader of one line from
// it without echo.
func terminalOf(f *os.File) (func() bool, func() (string, error)) {
	fd := int(f.Fd())
	return func() bool { return term.IsTerminal(fd) }, func() (string, error) {
		b, err := term.ReadPassword(fd)
		return string(b), err
	}
}

// line reads one line from stdin (a terminal with echo, or a pipe).
func (a *app) line() (string, error) {
	if a.lines == nil {
		a.lines = bufio.NewReader(a.stdin)
	}
	s, err := a.lines.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no more input on stdin")
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// secret returns the value of the environment variable env, or asks for
// it: on a terminal without echo, else as one line of stdin. The value is
// never printed.
func (a *app) secret(env, what string) (string, error) {
	if v := a.getenv(env); v != "" {
		return v, nil
	}
	fmt.Fprintf(a.stderr, "%s: ", what)
	var v string
	var err error
	if a.isTerminal != nil && a.isTerminal() {
		v, err = a.readSecret()
		fmt.Fprintln(a.stderr)
	} else {
		v, err = a.line()
	}
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w (or set $%s)", what, err, env)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("empty %s", what)
	}
	return v, nil
}

// choose asks for one of n numbered items (1..n) and returns its index.
func (a *app) choose(n int) (int, error) {
	fmt.Fprintf(a.stderr, "credential [1-%d]: ", n)
	s, err := a.line()
	if err != nil {
		return 0, fmt.Errorf("choosing a credential: %w (or give -credential)", err)
	}
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || i < 1 || i > n {
		return 0, fmt.Errorf("no credential numbered %q", strings.TrimSpace(s))
	}
	return i - 1, nil
}
