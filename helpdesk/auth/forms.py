from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from helpdesk.auth.models import Role


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名。")])
    password = PasswordField("密码", validators=[DataRequired("请输入密码。")])
    remember = BooleanField("记住我")


class PasswordForm(FlaskForm):
    old = PasswordField("原密码", validators=[DataRequired("请输入原密码。")])
    new = PasswordField(
        "新密码", validators=[DataRequired("请输入新密码。"), Length(min=8, message="新密码至少 8 位。")]
    )
    confirm = PasswordField("再次输入新密码", validators=[EqualTo("new", message="两次输入的新密码不一致。")])


class UserForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名。"), Length(max=80)])
    display_name = StringField("姓名", validators=[Length(max=80)])
    email = StringField("邮箱", validators=[Length(max=254)])
    role = SelectField("角色", choices=[(r.value, r.label) for r in Role])
    password = PasswordField(
        "初始密码", validators=[DataRequired("请输入初始密码。"), Length(min=8, message="密码至少 8 位。")]
    )


class CodeForm(FlaskForm):
    """The second login step, and the enrolment's confirmation."""

    code = StringField(
        "验证码", validators=[DataRequired("请输入验证码。"), Length(max=40, message="验证码太长。")]
    )


class DisableTwoFactorForm(FlaskForm):
    """Proof that it is the user (a current code or the password) before the second factor goes."""

    off_code = StringField("当前验证码（或恢复码）", validators=[Length(max=40, message="验证码太长。")])
    off_password = PasswordField("或者：登录密码", validators=[Length(max=200)])


class RenewCodesForm(FlaskForm):
    """The same proof before new recovery codes replace the old ones (own names: both are on one page)."""

    new_code = StringField("当前验证码（或恢复码）", validators=[Length(max=40, message="验证码太长。")])
    new_password = PasswordField("或者：登录密码", validators=[Length(max=200)])
