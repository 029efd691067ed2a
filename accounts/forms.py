from datetime import timedelta

from django import forms
from django.utils import timezone

from accounts.models import ApiToken

EXPIRY_CHOICES = [
    ("30", "in 30 days"),
    ("90", "in 90 days"),
    ("365", "in a year"),
    ("7", "in 7 days"),
    ("", "never"),
]


class TokenForm(forms.ModelForm):
    """A name and an expiry chosen in days (absolute dates are for admins, in the admin)."""

    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    class Meta:
        model = ApiToken
        fields = ["name"]
        widgets = {"name": forms.TextInput(attrs={"placeholder": "e.g. CI nightly import"})}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name

    def expires_at(self):
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None
