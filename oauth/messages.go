package oauth

// messages holds every string of the signer's pages, by language, so other
// languages can be added beside English.
var messages = map[string]map[string]string{
	"en": {
		"title":            "Remote signing",
		"login.heading":    "Sign in",
		"login.intro":      "%s asks to use your signing credential. Sign in to continue.",
		"login.username":   "Username",
		"login.password":   "Password",
		"login.submit":     "Sign in",
		"login.failed":     "The username or password is wrong, or the account is locked.",
		"consent.heading":  "Review what you sign",
		"consent.client":   "Application",
		"consent.cred":     "Signing credential",
		"consent.count":    "Number of signatures",
		"consent.docs":     "Documents",
		"consent.document": "Document %d",
		"consent.service":  "%s asks to use the signing service on your behalf: to see your credentials and to ask for your approval of signatures.",
		"consent.approve":  "Continue",
		"consent.deny":     "Deny",
		"otp.heading":      "Confirm with your code",
		"otp.intro":        "Enter the 6-digit code shown by your authenticator app to approve %d signature(s).",
		"otp.code":         "Code",
		"otp.submit":       "Approve and sign",
		"otp.deny":         "Deny",
		"otp.failed":       "The code is wrong or has been used. Wait for the next code and try again.",
		"otp.locked":       "Too many wrong codes: the second factor is locked. Ask your operator to unlock it.",
		"error.heading":    "This request cannot continue",
		"error.expired":    "This approval page has expired or was already used. Go back to the application and start again.",
		"error.credential": "The requested credential is not yours, not active, or does not exist.",
	},
}

// msg returns the English string for key (the only language so far).
func msg(key string) string {
	if s, ok := messages["en"][key]; ok {
		return s
	}
	return key
}
