package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// terminal returns stdin's descriptor if it is a terminal.
func (c *cli) terminal() (int, bool) {
	f, ok := c.stdin.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// line reads one line from stdin without its line ending.
func (c *cli) line() (string, error) {
	if c.in == nil {
		c.in = bufio.NewReader(c.stdin)
	}
	s, err := c.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no input on stdin")
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// secret reads a secret: from file if one is named (first line), else from
// the terminal without echo, asked twice, else one line from stdin.
func (c *cli) secret(file, what string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		v, _, _ := strings.Cut(string(b), "\n")
		v = strings.TrimRight(v, "\r")
		if v == "" {
			return "", fmt.Errorf("%s: empty %s file", file, what)
		}
		return v, nil
	}
	if fd, ok := c.terminal(); ok {
		read := func(prompt string) (string, error) {
			fmt.Fprint(c.stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(c.stderr)
			return string(b), err
		}
		first, err := read("New " + what + ": ")
		if err != nil {
			return "", err
		}
		again, err := read("Repeat " + what + ": ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", fmt.Errorf("the two %ss differ", what)
		}
		if first == "" {
			return "", fmt.Errorf("empty %s", what)
		}
		return first, nil
	}
	v, err := c.line()
	if err != nil {
		return "", fmt.Errorf("reading %s from stdin: %w", what, err)
	}
	if v == "" {
		return "", fmt.Errorf("empty %s", what)
	}
	return v, nil
}

// confirm asks a yes/no question on stderr and reads the answer from stdin.
func (c *cli) confirm(question string) (bool, error) {
	fmt.Fprintf(c.stderr, "%s Type 'yes' to confirm: ", question)
	v, err := c.line()
	if _, tty := c.terminal(); !tty {
		fmt.Fprintln(c.stderr) // the answer was not echoed
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(v) == "yes", nil
}
