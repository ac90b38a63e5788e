package eas

// RightsManagementLicense is the IRM license of a protected message: what
// the user may do with it. MS-ASRM 2.2.2.14 (14.1).
type RightsManagementLicense struct {
	Owner                     bool      `wbxml:"RightsManagement:Owner"`
	ContentOwner              string    `wbxml:"RightsManagement:ContentOwner"`
	ReplyAllAllowed           bool      `wbxml:"RightsManagement:ReplyAllAllowed"`
	EditAllowed               bool      `wbxml:"RightsManagement:EditAllowed"`
	ReplyAllowed              bool      `wbxml:"RightsManagement:ReplyAllowed"`
	ForwardAllowed            bool      `wbxml:"RightsManagement:ForwardAllowed"`
	ExportAllowed             bool      `wbxml:"RightsManagement:ExportAllowed"`
	ModifyRecipientsAllowed   bool      `wbxml:"RightsManagement:ModifyRecipientsAllowed"`
	TemplateID                string    `wbxml:"RightsManagement:TemplateID"`
	ExtractAllowed            bool      `wbxml:"RightsManagement:ExtractAllowed"`
	TemplateDescription       string    `wbxml:"RightsManagement:TemplateDescription"`
	ContentExpiryDate         *DateTime `wbxml:"RightsManagement:ContentExpiryDate,omitempty"`
	TemplateName              string    `wbxml:"RightsManagement:TemplateName"`
	PrintAllowed              bool      `wbxml:"RightsManagement:PrintAllowed"`
	ProgrammaticAccessAllowed bool      `wbxml:"RightsManagement:ProgrammaticAccessAllowed"`
}
