package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// stdin is where prompts read answers; tests replace it.
var stdin = bufio.NewReader(os.Stdin)

// promptUser asks a question on stderr and reads one line of stdin.
func promptUser(msg string) string {
	fmt.Fprint(os.Stderr, msg)
	line, _ := stdin.ReadString('\n')
	return strings.TrimSpace(line)
}

// yesNoPrompt asks up to three times; anything but y means no.
func yesNoPrompt(prompt string) bool {
	for range 3 {
		switch promptUser(prompt + " ") {
		case "y", "Y":
			return true
		case "n", "N", "":
			return false
		}
		fmt.Fprintln(os.Stderr, "Please press either 'y' or 'n'")
	}
	return false
}
