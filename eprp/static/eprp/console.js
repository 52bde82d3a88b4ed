// The study admin on a laptop: the navigation sidebar starts collapsed, so lists get the
// screen's width. Django's nav_sidebar.js (deferred, it runs after this) reads the stored
// choice; a user who opens the sidebar keeps it open.
"use strict";
try {
  if (window.localStorage.getItem("django.admin.navSidebarIsOpen") === null) {
    window.localStorage.setItem("django.admin.navSidebarIsOpen", "false");
  }
} catch (e) {
  // Storage refused (private mode): Django's default applies.
}
